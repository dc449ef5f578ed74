import http from 'node:http';
import type { ChannelArgs, ChannelResult, ContractError, ControlPlaneClient, ProgressEvent, RequestChannel } from '../../preload/contract.js';
import { FramewormError, type ErrorCode } from '../common/errors.js';
import { lineSplitter } from '../common/line-splitter.js';

/** Rebuilds a real error from its wire form, keeping code and detail. */
export function fromContractError(e: ContractError): FramewormError {
  return new FramewormError(e.code as ErrorCode, e.message, e.detail);
}

/** Calls the agent's RPC transport (see RpcServer) over loopback HTTP. */
export class RpcClient implements ControlPlaneClient {
  private readonly agent = new http.Agent({ keepAlive: false });

  constructor(
    private readonly port: number,
    private readonly token: string,
  ) {}

  invoke<C extends RequestChannel>(channel: C, args: ChannelArgs<C>, onProgress?: (p: ProgressEvent) => void): Promise<ChannelResult<C>> {
    const body = JSON.stringify(args ?? {});
    return new Promise((resolve, reject) => {
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
            const msg = JSON.parse(line) as { progress?: ProgressEvent; result?: ChannelResult<C>; error?: ContractError };
            if (msg.progress) onProgress?.(msg.progress);
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
            if (!settled) reject(new FramewormError('E_AGENT', `the agent closed the connection before answering ${channel}`));
          });
          res.on('error', (err) => reject(new FramewormError('E_AGENT', `lost the agent connection: ${err.message}`)));
        },
      );
      req.on('error', (err) => reject(new FramewormError('E_AGENT', `cannot reach the agent on port ${this.port}: ${err.message}`)));
      req.end(body);
    });
  }
}
