/**
 * Confirmation of a lifecycle move: states the effect ("v3 → production, v2 → archived, endpoint
 * unchanged"), asks for a reason (recorded with the event), and shows the control plane's refusal
 * in place when there is one.
 */
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import type { DeploymentStatus, VersionView } from '../../../preload/contract';
import { describeError } from '../bridge/client-types';
import { ACTION_LABELS, describeEffect, type LifecycleAction } from '../domain/lifecycle';
import { useStores } from '../stores/app-stores';

export interface TransitionRequest {
  readonly version: VersionView;
  readonly action: LifecycleAction;
}

export function TransitionDialog({ status, request, onClose }: { readonly status: DeploymentStatus; readonly request: TransitionRequest; readonly onClose: () => void }): ReactNode {
  const { deployments } = useStores();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const reasonRef = useRef<HTMLTextAreaElement>(null);
  const titleId = useId();
  const effectId = useId();
  const effect = describeEffect(request.action, request.version, status);

  useEffect(() => {
    // Focus goes to the reason field, and back to the button that opened the dialog on close.
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    reasonRef.current?.focus();
    return () => opener?.focus();
  }, []);

  const confirm = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await deployments.getState().transition(status.name, request.version.version, request.action, reason);
      onClose();
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  return (
    <div className="backdrop">
      <div
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={effectId}
        onKeyDown={(e) => {
          if (e.key === 'Escape' && !busy) onClose();
        }}
      >
        <h2 id={titleId}>
          {ACTION_LABELS[request.action]}: {status.name} {request.version.version}
        </h2>
        <p id={effectId} className="effect">
          {effect}
        </p>
        <label>
          Reason
          <textarea ref={reasonRef} value={reason} rows={2} placeholder="why (recorded with the event)" onChange={(e) => setReason(e.target.value)} />
        </label>
        {error ? (
          <p role="alert" className="error">
            {error}
          </p>
        ) : null}
        <div className="row end">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="button" className="primary" onClick={() => void confirm()} disabled={busy}>
            {busy ? 'Working…' : 'Confirm'}
          </button>
        </div>
      </div>
    </div>
  );
}
