/** The alert subsystem: rule table, router, Slack outbox and dispatcher, tray channel. */
export { AlertRouter, type AlertRouterOptions, type AlertSettings } from './alert-router.js';
export {
  DEFAULT_ALERT_RULES, defineRule, withChannels, type AlertContent, type AlertContext, type AlertField, type AlertRule,
  type AlertSeverity, type AlertThresholds, type RuleSpec,
} from './alert-rules.js';
export { AlertOutbox, type OutboxItem, type OutboxRow, type OutboxState } from './alert-outbox.js';
export { DEFAULT_DELIVERY_POLICY, SlackDispatcher, type DeliveryOutcome, type DeliveryPolicy, type SendAttempt } from './slack-dispatcher.js';
export { slackMessage, cut, type SlackBlock, type SlackMessage } from './slack-message.js';
export { HOW_TO_SET_WEBHOOK, redactUrl, resolveWebhookUrl, SLACK_WEBHOOK_ENV, SlackWebhookClient, type SlackSendResult } from './slack-webhook.js';
export { systemScheduler, type Scheduler } from './scheduler.js';
export { TrayNotifier, type TrayListener, type TrayNotification } from './tray-notifier.js';
