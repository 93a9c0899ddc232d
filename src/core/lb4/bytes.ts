// The one place where lb4 fields get their byte order. "net" fields are big-endian (network order); "host"
// fields are in the byte order of the machine running kube-lb, which is also the kernel's.

/** True on little-endian machines (x86-64, arm64): what "host order" means for BPF map fields. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export const putNet32 = (v: DataView, off: number, x: number): void => v.setUint32(off, x, false);
export const putNet16 = (v: DataView, off: number, x: number): void => v.setUint16(off, x, false);
export const putHost32 = (v: DataView, off: number, x: number): void => v.setUint32(off, x, HOST_LITTLE_ENDIAN);
export const putHost16 = (v: DataView, off: number, x: number): void => v.setUint16(off, x, HOST_LITTLE_ENDIAN);
export const getNet32 = (v: DataView, off: number): number => v.getUint32(off, false);
export const getNet16 = (v: DataView, off: number): number => v.getUint16(off, false);
export const getHost32 = (v: DataView, off: number): number => v.getUint32(off, HOST_LITTLE_ENDIAN);
export const getHost16 = (v: DataView, off: number): number => v.getUint16(off, HOST_LITTLE_ENDIAN);

/** Lowercase hex with a space between bytes, as bpftool prints them. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}
