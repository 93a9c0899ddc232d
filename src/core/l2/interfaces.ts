// Which local interfaces answer ARP for a VIP. An L2Announcement lists interface names or regular expressions
// written as /regex/ (matched anywhere in the name unless anchored); no list means "the interface of the
// default route". Only links that are up, carry Ethernet and do ARP can answer.
import { KubeLbError } from '../../shared/errors.ts';

export type InterfacePattern =
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'regex'; readonly source: string; readonly regex: RegExp };

/** The announcement's interface list after parsing; empty means the default-route interface. */
export type InterfaceSelection = readonly InterfacePattern[];

export class InterfacePatternError extends KubeLbError {
  readonly pattern: string;
  constructor(pattern: string, reason: string, cause?: unknown) {
    super('L2_INTERFACE_PATTERN', `interface pattern ${JSON.stringify(pattern)}: ${reason}`, { cause });
    this.pattern = pattern;
  }
}

/** Linux interface names: 1..15 bytes, no '/', no whitespace, not "." or "..". */
const IFNAME = /^(?!\.{1,2}$)[^\s/:]{1,15}$/;

export function parseInterfacePattern(text: string): InterfacePattern {
  if (text.length >= 2 && text.startsWith('/') && text.endsWith('/')) {
    const source = text.slice(1, -1);
    if (source === '') throw new InterfacePatternError(text, 'empty regular expression');
    try {
      return { kind: 'regex', source, regex: new RegExp(source) };
    } catch (err) {
      throw new InterfacePatternError(text, 'not a valid regular expression', err);
    }
  }
  if (!IFNAME.test(text))
    throw new InterfacePatternError(text, 'not a valid interface name (1-15 characters, no "/", ":" or spaces)');
  return { kind: 'name', name: text };
}

export function parseInterfaceSelection(list: readonly string[] | undefined): InterfaceSelection {
  return (list ?? []).map(parseInterfacePattern);
}

export function patternMatches(pattern: InterfacePattern, ifname: string): boolean {
  return pattern.kind === 'name' ? pattern.name === ifname : pattern.regex.test(ifname);
}

/** What the speaker knows about one local link. */
export interface LinkInfo {
  readonly index: number;
  readonly name: string;
  /** Administratively up and with carrier (IFF_UP and IFF_LOWER_UP). */
  readonly up: boolean;
  /** Ethernet-like (ARPHRD_ETHER) and ARP enabled (no IFF_NOARP): the only links ARP can be answered on. */
  readonly arpCapable: boolean;
  readonly mac: string;
}

/**
 * Names of the links that `selection` picks and that can answer ARP now. `defaultInterface` is the link of
 * the default IPv4 route, used when the selection is empty.
 */
export function selectInterfaces(
  selection: InterfaceSelection,
  links: readonly Pick<LinkInfo, 'name' | 'up' | 'arpCapable'>[],
  defaultInterface: string | undefined,
): string[] {
  const usable = links.filter((l) => l.up && l.arpCapable).map((l) => l.name);
  if (selection.length === 0)
    return defaultInterface !== undefined && usable.includes(defaultInterface) ? [defaultInterface] : [];
  return usable.filter((name) => selection.some((p) => patternMatches(p, name))).sort();
}

/**
 * Among names that are already known to be usable (as a peer publishes them), those `selection` picks. The
 * same rule as selectInterfaces, for nodes whose links we only know by their published names.
 */
export function pickPublished(
  selection: InterfaceSelection,
  usable: readonly string[],
  defaultInterface: string | undefined,
): string[] {
  return selectInterfaces(
    selection,
    usable.map((name) => ({ name, up: true, arpCapable: true })),
    defaultInterface,
  );
}
