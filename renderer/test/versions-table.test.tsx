import { act, fireEvent, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { StageName } from '../../preload/contract';
import { VersionsTable } from '../src/components/versions-table';
import { isActionAllowed, LIFECYCLE_ACTIONS } from '../src/domain/lifecycle';
import { FakeControlPlane, version } from './fake-control-plane';
import { renderWith } from './render-app';

function setup(): { cp: FakeControlPlane; rerender: () => void } {
  const cp = new FakeControlPlane();
  cp.addModel('mnist', [version('v1', 'archived'), version('v2', 'production'), version('v3', 'staging'), version('v4', 'dev')]);
  const r = renderWith(cp, <VersionsTable status={cp.status('mnist')} />);
  return { cp, rerender: () => r.rerender(<VersionsTable status={cp.status('mnist')} />) };
}

function rowOf(v: string): HTMLElement {
  return screen.getByRole('rowheader', { name: v }).closest('tr')!;
}

describe('versions table', () => {
  it('enables only the legal lifecycle moves for each stage', () => {
    setup();
    const enabled = (v: string): string[] =>
      within(rowOf(v))
        .getAllByRole('button')
        .filter((b) => !(b as HTMLButtonElement).disabled)
        .map((b) => b.textContent ?? '');
    expect(enabled('v4')).toEqual(['Promote to staging', 'Archive', 'Lineage']);
    expect(enabled('v3')).toEqual(['Promote to production', 'Archive', 'Lineage']);
    expect(enabled('v2')).toEqual(['Archive', 'Lineage']);
    expect(enabled('v1')).toEqual(['Roll back to this', 'Lineage']);
  });

  it('allows archived → production only as a rollback', () => {
    const stages: StageName[] = ['dev', 'staging', 'production', 'archived'];
    const table = Object.fromEntries(stages.map((s) => [s, LIFECYCLE_ACTIONS.filter((a) => isActionAllowed(a, s))]));
    expect(table).toEqual({
      dev: ['promote-staging', 'archive'],
      staging: ['promote-production', 'archive'],
      production: ['archive'],
      archived: ['rollback'],
    });
  });

  it('states the effect before promoting, and sends the reason', async () => {
    const { cp, rerender } = setup();
    fireEvent.click(screen.getByRole('button', { name: 'Promote to production: v3' }));
    const dialog = screen.getByRole('dialog');
    expect(within(dialog).getByText('v3 → production, v2 → archived, endpoint unchanged (http://127.0.0.1:8100)')).toBeTruthy();
    expect(document.activeElement).toBe(within(dialog).getByLabelText('Reason'));
    fireEvent.change(within(dialog).getByLabelText('Reason'), { target: { value: 'load test passed' } });
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    });
    expect(cp.callsOf('deploy.promote')).toEqual([{ name: 'mnist', version: 'v3', stage: 'production', reason: 'load test passed', actor: 'gui' }]);
    expect(screen.queryByRole('dialog')).toBeNull();
    rerender();
    expect(within(rowOf('v3')).getByText('production')).toBeTruthy();
    expect(within(rowOf('v2')).getByText('archived')).toBeTruthy();
  });

  it('rolls back to an archived version through deploy.rollback', async () => {
    const { cp } = setup();
    fireEvent.click(screen.getByRole('button', { name: 'Roll back to this: v1' }));
    const dialog = screen.getByRole('dialog');
    expect(within(dialog).getByText('rolls back: v1 → production, v2 → archived, endpoint unchanged (http://127.0.0.1:8100)')).toBeTruthy();
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    });
    expect(cp.callsOf('deploy.rollback')).toEqual([{ name: 'mnist', to_version: 'v1', reason: undefined, actor: 'gui' }]);
    expect(cp.callsOf('deploy.promote')).toEqual([]);
  });

  it('says what archiving the production version leaves, and closes on Escape without a call', () => {
    const { cp } = setup();
    const archive = screen.getByRole('button', { name: 'Archive: v2' });
    archive.focus();
    fireEvent.click(archive);
    const dialog = screen.getByRole('dialog');
    expect(within(dialog).getByText('v2 → archived; mnist is left without a production version')).toBeTruthy();
    fireEvent.keyDown(dialog, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(archive);
    expect(cp.callsOf('deploy.promote')).toEqual([]);
  });

  it('shows the control plane refusal inside the dialog', async () => {
    const { cp } = setup();
    fireEvent.click(screen.getByRole('button', { name: 'Promote to production: v3' }));
    // The CLI archives v3 meanwhile: the registry refuses the move that is now illegal.
    await cp.invoke('deploy.promote', { name: 'mnist', version: 'v3', stage: 'archived' });
    await act(async () => {
      fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Confirm' }));
    });
    expect(within(screen.getByRole('dialog')).getByRole('alert').textContent).toBe('archived → production is not allowed (E_CONFLICT)');
    expect((within(screen.getByRole('dialog')).getByRole('button', { name: 'Confirm' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('compares two picked versions side by side, marking the fields that differ', () => {
    const cp = new FakeControlPlane();
    cp.addModel('mnist', [
      version('v1', 'archived', { lineage: { checkpoint_sha256: '1'.repeat(64), git_commit: 'aaa' } }),
      version('v2', 'production', { lineage: { checkpoint_sha256: '2'.repeat(64), git_commit: 'aaa' } }),
    ]);
    renderWith(cp, <VersionsTable status={cp.status('mnist')} />);
    fireEvent.click(screen.getByRole('checkbox', { name: 'Compare v1' }));
    expect(screen.getByText('Pick a second version to compare.')).toBeTruthy();
    fireEvent.click(screen.getByRole('checkbox', { name: 'Compare v2' }));
    const region = screen.getByRole('region', { name: 'Compare v1 and v2' });
    const differs = within(region).getAllByRole('rowheader').filter((h) => h.textContent?.endsWith('(differs)')).map((h) => h.textContent);
    expect(differs).toEqual(['stage (differs)', 'created (differs)', 'lineage.checkpoint_sha256 (differs)']);
    expect(within(region).getByRole('rowheader', { name: 'lineage.git_commit' })).toBeTruthy();
  });
});
