import http from 'node:http';
import type {
  ChannelArgs, ChannelResult, ContractError, ControlPlaneClient, ProgressEvent, PushChannel, PushChannels, RequestChannel,
} from '../../preload/contract.js';
import { FramewormError, type ErrorCode } from '../common/errors.js';
import { lineSplitter } from '../common/line-splitter.js';

/** Detail of an E_AGENT error raised when the agent went away while a call may have been running. */
export const LOST = Object.freeze({ lost: true });

/** True for an error that left it unknown whether the agent carried the call out. */
export function isLostAgent(err: unknown): boolean {
  return err instanceof FramewormError && err.code === 'E_AGENT' && (err.detail as { lost?: unknown } | undefined)?.lost === true;
}

/** Rebuilds a real error from its wire form, keeping code and detail. */
export function fromContractError(e: ContractError): FramewormError {
  return new FramewormError(e.code as ErrorCode, e.message, e.detail);
}

/** Options of an RpcClient. */
export interface RpcClientOptions {
  /**
   * Give up when the agent sends nothing for this long (no answer, no progress). For probes
   * such as agent.info, which answer at once: a stopped or starved agent accepts the TCP
   * connection (the kernel does) but never answers. Unset: wait as long as the operation runs.
   */
  readonly silenceTimeoutMs?: number;
}

/** Calls the agent's RPC transport (see RpcServer) over loopback HTTP. */
export class RpcClient implements ControlPlaneClient {
  private readonly agent = new http.Agent({ keepAlive: false });

  constructor(
    private readonly port: number,
    private readonly token: string,
    private readonly options: RpcClientOptions = {},
  ) {}

  invoke<C extends RequestChannel>(
    channel: C,
    args: ChannelArgs<C>,
    onProgress?: (p: ProgressEvent) => void,
    onPush?: <P extends PushChannel>(channel: P, payload: PushChannels[P]) => void,
    /** Closes the connection when aborted; the agent then cancels the call (as on Ctrl-C). */
    signal?: AbortSignal,
  ): Promise<ChannelResult<C>> {
    const body = JSON.stringify(args ?? {});
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new FramewormError('E_AGENT', `${channel} was abandoned before it was sent`));
        return;
      }
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          method: 'POST',
          path: `/rpc/${channel}`,
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${this.token}` },
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new FramewormError('E_AGENT', `the agent refused the request (HTTP ${res.statusCode ?? '?'})`));
            return;
          }
          let settled = false;
          const onLine = (line: string): void => {
            if (line.trim() === '') return;
            const msg = JSON.parse(line) as {
              progress?: ProgressEvent; push?: { channel: PushChannel; payload: PushChannels[PushChannel] };
              result?: ChannelResult<C>; error?: ContractError;
            };
            if (msg.progress) onProgress?.(msg.progress);
            else if (msg.push) onPush?.(msg.push.channel, msg.push.payload);
            else if (msg.error) {
              settled = true;
              reject(fromContractError(msg.error));
            } else if ('result' in msg) {
              settled = true;
              resolve(msg.result as ChannelResult<C>);
            }
          };
          res.setEncoding('utf8');
          const lines = lineSplitter(onLine);
          res.on('data', (chunk: string) => lines.push(chunk));
          res.on('end', () => {
            lines.end();
            if (!settled) reject(new FramewormError('E_AGENT', `the agent closed the connection before answering ${channel}`, LOST));
          });
          res.on('error', (err) => reject(new FramewormError('E_AGENT', `lost the agent connection: ${err.message}`, LOST)));
        },
      );
      const silence = this.options.silenceTimeoutMs;
      if (silence !== undefined) {
        req.setTimeout(silence, () => {
          const err = new FramewormError('E_AGENT', `the agent on port ${this.port} did not answer ${channel} within ${silence / 1000} s`, LOST);
          // The response stream (when one began) rejects through its own 'error' listener.
          req.destroy(err);
          reject(err);
        });
      }
      signal?.addEventListener('abort', () => req.destroy(new FramewormError('E_AGENT', `${channel} was abandoned by the caller`, LOST)), { once: true });
      req.on('error', (err) => {
        // Refused: the request never reached an agent. Anything else (reset, hang-up) may have
        // happened after the agent acted on it.
        const refused = (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
        reject(new FramewormError('E_AGENT', `cannot reach the agent on port ${this.port}: ${err.message}`, refused ? undefined : LOST));
      });
      req.end(body);
    });
  }
}
