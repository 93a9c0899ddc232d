// The services the dataplane benchmarks program, as the C baseline (maps-baseline.c) writes them: VIP
// 10.128.0.0+i:80/TCP, backends 10.(64+j).(i>>8).(i&255):backendPort.
import type { DesiredFrontend } from '../../src/core/dataplane/frontend.ts';

export function benchFrontends(services: number, backends: number, backendPort = 30080): DesiredFrontend[] {
  const out: DesiredFrontend[] = [];
  for (let i = 0; i < services; i++) {
    const vip = 0x0a800000 + i;
    out.push({
      vip: `10.${(vip >>> 16) & 255}.${(vip >>> 8) & 255}.${vip & 255}`,
      port: 80,
      protocol: 'TCP',
      backends: Array.from({ length: backends }, (_, j) => ({
        address: `10.${64 + j}.${(i >>> 8) & 255}.${i & 255}`,
        port: backendPort,
      })),
    });
  }
  return out;
}
