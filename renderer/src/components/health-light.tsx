/** The coloured dot of a deployment's health, named for screen readers. */
import type { ReactNode } from 'react';
import { HEALTH_LABELS, type Health } from '../domain/health';

export function HealthLight({ health }: { readonly health: Health }): ReactNode {
  return <span className={`light light-${health}`} role="img" aria-label={`health: ${HEALTH_LABELS[health]}`} title={HEALTH_LABELS[health]} />;
}
