import { act, fireEvent, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../src/app';
import { ImportPanel } from '../src/components/import-panel';
import { ClientError } from '../src/bridge/client-types';
import { applyProgress } from '../src/stores/import-store';
import { FakeControlPlane } from './fake-control-plane';
import { renderWith } from './render-app';

const checkpoint = (): File => new File([new Uint8Array([1, 2, 3])], 'My DCGAN.pt');

async function browse(file: File): Promise<void> {
  await act(async () => {
    fireEvent.change(screen.getByLabelText('Browse for a checkpoint'), { target: { files: [file] } });
  });
}

describe('import panel', () => {
  it('inspects a browsed checkpoint and shows architecture, parameters, hyper-parameters and warnings', async () => {
    const cp = new FakeControlPlane();
    cp.inspectResult = { type: 'dcgan', format: 'pytorch', hyper_parameters: { latent_dim: 100, image_size: 64 }, n_params: 3_576_704, warnings: ['optimizer state ignored'], sha256: 'f'.repeat(64), size_bytes: 14_000_000 };
    renderWith(cp, <ImportPanel />);
    await browse(checkpoint());
    expect(cp.callsOf('deploy.inspect')).toEqual([{ model: '/tmp/uploads/My DCGAN.pt' }]);
    const card = screen.getByRole('region', { name: 'Inspection' });
    expect(within(card).getByText('dcgan')).toBeTruthy();
    expect(within(card).getByText('3,576,704')).toBeTruthy();
    expect(within(card).getByRole('rowheader', { name: 'latent_dim' })).toBeTruthy();
    expect(within(card).getByText('optimizer state ignored')).toBeTruthy();
    // The deployment name is proposed from the file name.
    expect((screen.getByLabelText('Name') as HTMLInputElement).value).toBe('my-dcgan');
  });

  it('shows a refusal as an alert and offers no deploy', async () => {
    const cp = new FakeControlPlane();
    cp.inspectResult = new ClientError({ code: 'E_UNSAFE', message: 'the pickle calls os.system; refusing to load it' });
    renderWith(cp, <ImportPanel />);
    await browse(checkpoint());
    expect(screen.getByRole('alert').textContent).toBe('Refused: the pickle calls os.system; refusing to load it (E_UNSAFE)');
    expect(screen.queryByRole('button', { name: 'Deploy' })).toBeNull();
  });

  it('names the file the user chose, not its uploaded copy, in a refusal', async () => {
    const cp = new FakeControlPlane();
    cp.inspectResult = new ClientError({ code: 'E_INPUT', message: '/tmp/uploads/My DCGAN.pt is neither a PyTorch checkpoint nor an ONNX model' });
    renderWith(cp, <ImportPanel />);
    await browse(checkpoint());
    expect(screen.getByRole('alert').textContent).toBe('Refused: My DCGAN.pt is neither a PyTorch checkpoint nor an ONNX model (E_INPUT)');
  });

  it('asks for an image size where the weights cannot tell it', async () => {
    const cp = new FakeControlPlane();
    cp.inspectResult = { type: 'ddpm', format: 'pytorch', hyper_parameters: {}, n_params: 1000, warnings: [] };
    renderWith(cp, <ImportPanel />);
    await browse(checkpoint());
    expect((screen.getByRole('button', { name: 'Deploy' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText(/image size: a ddpm model is fully convolutional/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText(/Image size/), { target: { value: '32' } });
    expect((screen.getByRole('button', { name: 'Deploy' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('deploys with the chosen options, shows each step, and cancels through task.cancel', async () => {
    const cp = new FakeControlPlane();
    cp.deploySteps = [
      { step: 'inspect', message: 'dcgan, 3.6 M parameters', value: 0.1, task_id: 't-7' },
      { step: 'export', message: 'exporting to ONNX', value: 0.3, task_id: 't-7' },
      { step: 'export', message: 'parity checked', value: 0.5, task_id: 't-7' },
    ];
    renderWith(cp, <ImportPanel />);
    await browse(checkpoint());
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'faces' } });
    fireEvent.change(screen.getByLabelText('Target'), { target: { value: 'docker' } });
    fireEvent.change(screen.getByLabelText('Stage'), { target: { value: 'staging' } });
    fireEvent.click(screen.getByLabelText('Quantize (int8)'));
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    });
    expect(cp.callsOf('deploy.start')).toEqual([{ model: '/tmp/uploads/My DCGAN.pt', name: 'faces', target: 'docker', stage: 'staging', quantize: true, actor: 'gui' }]);
    const progress = screen.getByRole('region', { name: 'Progress' });
    const steps = within(progress).getAllByRole('listitem').map((li) => li.textContent);
    expect(steps).toEqual(['inspect dcgan, 3.6 M parameters', 'export parity checked']);
    await act(async () => {
      fireEvent.click(within(progress).getByRole('button', { name: 'Cancel' }));
    });
    expect(cp.callsOf('task.cancel')).toEqual([{ task_id: 't-7' }]);
    expect(within(progress).getByText('Cancelled.')).toBeTruthy();
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('reports the finished deploy and keeps a deploy in progress while another model is shown', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('mnist', []);
    cp.deploySteps = [{ step: 'export', message: 'exporting', value: 0.4, task_id: 't-1' }];
    const { stores } = renderWith(cp, <App />);
    act(() => stores.ui.getState().setView('import'));
    await browse(checkpoint());
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    });
    act(() => stores.ui.getState().setView('model'));
    expect(screen.queryByRole('region', { name: 'Progress' })).toBeNull();
    await act(async () => cp.finishDeploy());
    act(() => stores.ui.getState().setView('import'));
    expect(screen.getByText(/Deployed my-dcgan v1 \(production\) at http:\/\/127\.0\.0\.1:8100\./)).toBeTruthy();
  });

  it('starts an import when a file is dropped anywhere on the window', async () => {
    const cp = new FakeControlPlane();
    renderWith(cp, <App />);
    const drop = new Event('drop', { bubbles: true, cancelable: true });
    Object.defineProperty(drop, 'dataTransfer', { value: { files: [checkpoint()] } });
    await act(async () => {
      window.dispatchEvent(drop);
    });
    // Cancelled, so the browser does not navigate to the file.
    expect(drop.defaultPrevented).toBe(true);
    expect(cp.callsOf('deploy.inspect')).toEqual([{ model: '/tmp/uploads/My DCGAN.pt' }]);
    expect(screen.getByRole('region', { name: 'Inspection' })).toBeTruthy();
  });

  it('updates a step in place and appends new ones', () => {
    let steps = applyProgress([], { step: 'a', message: '1' });
    steps = applyProgress(steps, { step: 'b', message: '2', value: 0.5 });
    steps = applyProgress(steps, { step: 'a', message: '3', value: 1 });
    expect(steps).toEqual([{ step: 'a', message: '3', value: 1 }, { step: 'b', message: '2', value: 0.5 }]);
  });
});
