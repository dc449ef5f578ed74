import { act, fireEvent, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { TryFormView } from '../../preload/contract';
import { ClientError } from '../src/bridge/client-types';
import { TryItPanel } from '../src/components/try-it-panel';
import { buildTryBody, curlCommand, fieldProblem, initialValues, rgbaToTensor, targetSide } from '../src/domain/try-request';
import { FakeControlPlane } from './fake-control-plane';
import { renderWith } from './render-app';

const URL = 'http://127.0.0.1:8100/predict';

const cfgForm: TryFormView = {
  name: 'cond', version: 'v3', type: 'cfg_ddpm', url: URL, image_outputs: ['images'], unsupported: null,
  fields: [
    { key: 'batch_size', kind: 'integer', label: 'Batch size', min: 1, max: 16, step: 1, default: 4 },
    { key: 'class_labels', kind: 'class', label: 'Class', classes: 10, default: null },
    { key: 'guidance_scale', kind: 'number', label: 'Guidance scale', min: 0, max: 20, step: 0.5, default: 3 },
    { key: 'num_steps', kind: 'integer', label: 'Sampling steps', min: 1, max: 1000, step: 1, default: 50 },
    { key: 'seed', kind: 'integer', label: 'Seed', min: 0, max: 2 ** 31 - 1, step: 1, default: 0 },
  ],
};

const vaeForm: TryFormView = {
  name: 'vae', version: 'v1', type: 'vae', url: URL, image_outputs: ['reconstruction'], unsupported: null,
  fields: [{ key: 'x', kind: 'image', label: 'Image', channels: 1, height: 28, width: 28, range: '[0,1]' }],
};

/** A 1×1 transparent PNG, as the endpoint would send pictures (base64). */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

async function flush(): Promise<void> {
  await act(async () => {
    await new Promise((r) => setTimeout(r, 0));
  });
}

describe('try-it request', () => {
  it('builds the body of DESIGN §5 with pictures as PNG, one class label per picture', () => {
    const values = { ...initialValues(cfgForm), batch_size: 2, class_labels: 7, seed: 11 };
    expect(buildTryBody(cfgForm, values, null)).toEqual({ class_labels: [7, 7], guidance_scale: 3, num_steps: 50, seed: 11, output_format: 'png' });
    expect(buildTryBody(cfgForm, { ...values, class_labels: null }, null)['class_labels']).toEqual([null, null]);
    const image = rgbaToTensor([255, 0, 0, 255, 0, 0, 0, 255], 2, 1, 1, '[0,1]');
    expect(buildTryBody(vaeForm, {}, image)).toEqual({ x: [[[[0.299, 0]]]], output_format: 'png' });
  });

  it('turns RGBA pixels into [C][H][W] in the model range', () => {
    const rgba = [255, 128, 0, 255, 0, 0, 255, 0];
    expect(rgbaToTensor(rgba, 2, 1, 3, '[-1,1]')).toEqual([[[1, -1]], [[0.0039, -1]], [[-1, 1]]]);
    expect(targetSide(28, 300)).toBe(28);
    expect(targetSide(null, 100, 16)).toBe(96);
    expect(targetSide(null, 8, 16)).toBe(16);
  });

  it('checks values with the bounds the endpoint enforces', () => {
    const [batch, klass] = cfgForm.fields;
    expect(fieldProblem(batch!, 17)).toBe('Batch size: from 1 to 16');
    expect(fieldProblem(batch!, 1.5)).toBe('Batch size: a whole number');
    expect(fieldProblem(klass!, 10)).toBe('Class: 0 to 9');
    expect(fieldProblem(klass!, null)).toBeNull();
  });

  it('quotes the curl command for a POSIX shell', () => {
    expect(curlCommand(URL, { note: "it's" })).toBe(`curl -s -X POST '${URL}' -H 'content-type: application/json' -d '{"note":"it'\\''s"}'`);
  });
});

describe('try-it panel', () => {
  it('generates the form from the schema: class picker, guidance slider, numbers — all named', async () => {
    const cp = new FakeControlPlane();
    cp.tryForm = cfgForm;
    renderWith(cp, <TryItPanel name="cond" version="v3" />);
    await flush();
    const form = screen.getByRole('form', { name: 'Try cond' });
    const picker = within(form).getByRole('combobox', { name: 'Class' }) as HTMLSelectElement;
    expect([...picker.options].map((o) => o.textContent)).toEqual(['Unconditional', ...Array.from({ length: 10 }, (_, i) => `Class ${i}`)]);
    const slider = within(form).getByRole('slider', { name: 'Guidance scale: 3' }) as HTMLInputElement;
    expect([slider.min, slider.max, slider.step]).toEqual(['0', '20', '0.5']);
    expect((within(form).getByRole('spinbutton', { name: 'Sampling steps' }) as HTMLInputElement).max).toBe('1000');
    expect(within(form).getByRole('spinbutton', { name: 'Seed' })).toBeTruthy();
    expect(cp.callsOf('deploy.schema')).toEqual([{ name: 'cond' }]);
  });

  it('sends the request through deploy.try and shows the answer as pictures, with the curl command to copy', async () => {
    const cp = new FakeControlPlane();
    cp.tryForm = cfgForm;
    cp.tryResult = { name: 'cond', status: 200, latency_ms: 812.4, output: { images: [PNG, PNG], seed: 5 } };
    renderWith(cp, <TryItPanel name="cond" version="v3" />);
    await flush();
    fireEvent.change(screen.getByRole('spinbutton', { name: 'Batch size' }), { target: { value: '2' } });
    fireEvent.change(screen.getByRole('combobox', { name: 'Class' }), { target: { value: '3' } });
    fireEvent.change(screen.getByRole('slider', { name: /^Guidance scale/ }), { target: { value: '5.5' } });
    fireEvent.change(screen.getByRole('spinbutton', { name: 'Seed' }), { target: { value: '5' } });
    const body = { class_labels: [3, 3], guidance_scale: 5.5, num_steps: 50, seed: 5, output_format: 'png' };
    expect(screen.getByText(curlCommand(URL, body))).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Copy curl command' })).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Generate' }));
    await flush();
    expect(cp.callsOf('deploy.try')).toEqual([{ name: 'cond', body }]);
    const results = screen.getByRole('figure', { name: 'Results of cond' });
    const imgs = within(results).getAllByRole('img');
    expect(imgs.map((i) => i.getAttribute('alt'))).toEqual(['Result 1 of 2 from cond v3', 'Result 2 of 2 from cond v3']);
    expect(imgs[0]!.getAttribute('src')).toBe(`data:image/png;base64,${PNG}`);
    expect(results.textContent).toContain('2 pictures from v3 in 812 ms');
  });

  it("shows the endpoint's 4xx message, and blocks values out of bounds before sending", async () => {
    const cp = new FakeControlPlane();
    cp.tryForm = cfgForm;
    cp.tryResult = new ClientError({ code: 'E_INPUT', message: "cond refused the request (HTTP 400): 'num_steps' must be an integer from 1 to 1000 (got 0)" });
    renderWith(cp, <TryItPanel name="cond" version="v3" />);
    await flush();
    fireEvent.change(screen.getByRole('spinbutton', { name: 'Batch size' }), { target: { value: '99' } });
    expect((screen.getByRole('button', { name: 'Generate' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText('Batch size: from 1 to 16')).toBeTruthy();
    fireEvent.change(screen.getByRole('spinbutton', { name: 'Batch size' }), { target: { value: '1' } });
    fireEvent.click(screen.getByRole('button', { name: 'Generate' }));
    await flush();
    expect(screen.getByRole('alert').textContent).toBe("cond refused the request (HTTP 400): 'num_steps' must be an integer from 1 to 1000 (got 0) (E_INPUT)");
  });

  it('an image model asks for a picture; nothing serving says so; a generic model says why there is no form', async () => {
    const cp = new FakeControlPlane();
    cp.tryForm = vaeForm;
    const { rerender } = renderWith(cp, <TryItPanel name="vae" version="v1" />);
    await flush();
    expect(screen.getByLabelText('Picture for vae')).toBeTruthy();
    expect(screen.getByText('Image: choose a picture')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Reconstruct' })).toBeTruthy();
    rerender(<TryItPanel name="idle" version={null} />);
    expect(screen.getByText(/Nothing is serving/)).toBeTruthy();
    cp.tryForm = { ...vaeForm, name: 'mlp', type: 'generic', fields: [], image_outputs: [], unsupported: 'a generic ONNX model has no known picture outputs' };
    rerender(<TryItPanel name="mlp" version="v1" />);
    await flush();
    expect(screen.getByText('a generic ONNX model has no known picture outputs')).toBeTruthy();
  });
});
