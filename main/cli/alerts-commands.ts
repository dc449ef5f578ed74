/**
 * `frameworm alerts test [--channel slack]`: sends one test message right now (not through the
 * outbox, no retries) so a user can check the webhook before a rollback needs it.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { FramewormError } from '../common/errors.js';
import { loadDeployConfig } from '../config/deploy-config.js';
import { slackMessage } from '../alerts/slack-message.js';
import { HOW_TO_SET_WEBHOOK, resolveWebhookUrl, SlackWebhookClient } from '../alerts/slack-webhook.js';
import { commonOf, withCommon } from './common-options.js';
import { makeOutput } from './output.js';

/** Registers the `alerts` command group. */
export function registerAlertsCommands(program: Command): void {
  const alerts = program.command('alerts').description('alert channels (Slack, log, tray)');
  withCommon(
    alerts
      .command('test')
      .description('send a test alert now and report whether it arrived')
      .addOption(new Option('--channel <channel>', 'channel to test').choices(['slack']).default('slack')),
  ).action(async (opts: { workspace?: string; json?: boolean; channel: string }) => {
    const common = commonOf(opts);
    const { config } = loadDeployConfig(common.workspace);
    const url = resolveWebhookUrl(config.slack_webhook_url);
    if (url === null) throw new FramewormError('E_CONFIG', `no Slack webhook URL is set: ${HOW_TO_SET_WEBHOOK}`);
    const now = new Date();
    const message = slackMessage({
      title: 'Frameworm Deploy test alert',
      summary: `This is a test from \`frameworm alerts test\` in workspace ${path.basename(common.workspace)}: rollbacks of its deployments will be announced here.`,
      severity: 'info',
      fields: [
        { label: 'Workspace', value: path.basename(common.workspace) },
        { label: 'Time', value: now.toISOString() },
      ],
    });
    const result = await new SlackWebhookClient().send(url, message, now.getTime());
    if (result.kind !== 'sent') throw new FramewormError('E_RUNTIME', `the Slack test message was not delivered: ${result.error}`);
    makeOutput(common.json).result({ channel: 'slack', outcome: 'sent' }, () => 'sent a test message to Slack');
  });
}
