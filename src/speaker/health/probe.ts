// The two probes cloud load balancers use on Kubernetes nodes, run from the LB node's own network namespace:
// a TCP connect (success when the handshake completes) and an HTTP GET (success on a 2xx answer). Each has a
// deadline and reports a stable failure code (core/health/state.ts) with the error text as detail.
import { request } from 'node:http';
import { connect } from 'node:net';
import type { ProbeFailure, ProbeResult } from '../../core/health/state.ts';
import type { HealthTarget } from '../../core/health/targets.ts';

function failureOf(err: NodeJS.ErrnoException): ProbeFailure {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'Refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'Reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return 'Unreachable';
    case 'ETIMEDOUT':
      return 'Timeout';
    default:
      return 'Error';
  }
}

const failed = (failure: ProbeFailure, detail: string): ProbeResult => ({ ok: false, failure, detail });

export function tcpProbe(address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const timer = setTimeout(
      () => finish(failed('Timeout', `no TCP handshake with ${address}:${port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    function finish(r: ProbeResult): void {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(r);
    }
    socket.once('connect', () => finish({ ok: true }));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(failed(failureOf(err), err.message)));
  });
}

export function httpProbe(address: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = request(
      {
        host: address,
        port,
        path,
        method: 'GET',
        agent: false,
        headers: { 'user-agent': 'kube-lb-speaker-healthcheck' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        finish(
          status >= 200 && status < 300
            ? { ok: true }
            : failed('BadStatus', `GET http://${address}:${port}${path} answered ${status}`),
        );
      },
    );
    const timer = setTimeout(
      () => finish(failed('Timeout', `GET http://${address}:${port}${path}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.once('error', (err: NodeJS.ErrnoException) => finish(failed(failureOf(err), err.message)));
    req.end();
  });
}

export function probe(target: HealthTarget, timeoutMs: number): Promise<ProbeResult> {
  return target.kind === 'http'
    ? httpProbe(target.address, target.port, target.path, timeoutMs)
    : tcpProbe(target.address, target.port, timeoutMs);
}
