/**
 * Alert content as a Slack Block Kit message with a plain-text fallback, within Slack's block
 * limits (header 150 characters, section text 3000, field text 2000, 10 fields per section,
 * 50 blocks): a message over a limit is refused by Slack as a whole, so everything is cut here.
 */
import type { AlertContent } from './alert-rules.js';

export const SLACK_HEADER_MAX = 150;
export const SLACK_SECTION_TEXT_MAX = 3000;
export const SLACK_FIELD_TEXT_MAX = 2000;
export const SLACK_FIELDS_PER_SECTION = 10;

interface PlainText {
  readonly type: 'plain_text';
  readonly text: string;
  readonly emoji?: boolean;
}
interface Mrkdwn {
  readonly type: 'mrkdwn';
  readonly text: string;
}
interface HeaderBlock {
  readonly type: 'header';
  readonly text: PlainText;
}
interface SectionBlock {
  readonly type: 'section';
  readonly text?: Mrkdwn;
  readonly fields?: readonly Mrkdwn[];
}
interface ContextBlock {
  readonly type: 'context';
  readonly elements: readonly Mrkdwn[];
}
export type SlackBlock = HeaderBlock | SectionBlock | ContextBlock;

/** A message for an incoming webhook: `text` is what notifications and old clients show. */
export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly SlackBlock[];
}

/** Cuts `text` to at most `max` characters (code points), marking the cut with an ellipsis. */
export function cut(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/** Slack's mrkdwn treats &, < and > as control characters; everything else is shown as typed. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const SEVERITY_MARK: Record<AlertContent['severity'], string> = {
  info: 'info',
  warning: 'warning',
  critical: 'CRITICAL',
};

/** Renders alert content as a Block Kit message with a text fallback. */
export function slackMessage(content: AlertContent): SlackMessage {
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(content.title, SLACK_HEADER_MAX), emoji: true } },
    { type: 'section', text: { type: 'mrkdwn', text: cut(escapeMrkdwn(content.summary), SLACK_SECTION_TEXT_MAX) } },
  ];
  const fields: Mrkdwn[] = content.fields.map((f) => ({
    type: 'mrkdwn',
    text: cut(`*${escapeMrkdwn(f.label)}*\n${escapeMrkdwn(f.value)}`, SLACK_FIELD_TEXT_MAX),
  }));
  for (let i = 0; i < fields.length; i += SLACK_FIELDS_PER_SECTION) {
    blocks.push({ type: 'section', fields: fields.slice(i, i + SLACK_FIELDS_PER_SECTION) });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `Frameworm Deploy · ${SEVERITY_MARK[content.severity]}` }] });
  return { text: cut(`${content.title}: ${content.summary}`, SLACK_SECTION_TEXT_MAX), blocks };
}
