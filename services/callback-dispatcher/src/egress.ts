/**
 * Egress guard for callbacks (DESIGN.md "Callbacks go only where allowed"; issue 15 item 7).
 *
 * A callback URL is chosen by whoever holds the admin token, so without a guard the dispatcher is
 * a request forger into the network it runs in (cloud metadata at 169.254.169.254, the NATS
 * monitoring port, the co-signer's own gRPC listeners). The guard therefore refuses, unless an
 * operator allow-list names them:
 *
 * - loopback (127.0.0.0/8, ::1), unspecified (0.0.0.0/8, ::), link-local (169.254.0.0/16,
 *   fe80::/10), private (RFC 1918 10/8, 172.16/12, 192.168/16; RFC 6598 100.64/10; RFC 4193
 *   fc00::/7), multicast (224.0.0.0/4, ff00::/8), and the other special-purpose ranges of the IANA
 *   registry (RFC 6890: 192.0.0.0/24, benchmarking 198.18/15, documentation, 240.0.0.0/4 and
 *   broadcast; 6to4/Teredo/NAT64 prefixes whose embedded IPv4 could be anything);
 * - the co-signer's own listeners (`host:port` or `*:port`, e.g. the NATS and gRPC ports) always,
 *   even inside an allow-listed range: no allow-list entry makes the dispatcher talk to them.
 *
 * The check is made on the address actually connected to: every connection the dispatcher makes
 * resolves its host through {@link EgressGuard.lookup} (passed as `lookup` to the HTTP agents and
 * `tls.connect`), which checks every resolved address before net.connect dials one, and a literal
 * IP host (for which node performs no lookup) is checked before the request is made. The name is
 * resolved once per connection and the checked address is the one dialled, so a DNS answer that
 * changes between a check and the connect (DNS rebinding) cannot get around it. IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d) are judged by their IPv4 address.
 */
import dns from 'node:dns';
import net from 'node:net';

/** A destination the guard refuses. The message names no address or port (it goes to the audit). */
export class EgressRefused extends Error {
  readonly code = 'ERR_CALLBACK_DESTINATION';
  constructor() {
    super('callback destination is not allowed (non-public address or a co-signer listener; see COSIGNER_CALLBACK_ALLOW)');
    this.name = 'EgressRefused';
  }
}

/** IPv4 ranges refused unless allow-listed (RFC 6890 special-purpose registry, RFC 1918, RFC 6598). */
const BLOCKED_V4: ReadonlyArray<[string, number]> = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
/** IPv6 ranges refused unless allow-listed. ::ffff:0:0/96 is handled by unmapping, not listed. */
const BLOCKED_V6: ReadonlyArray<[string, number]> = [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32],
  ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
];

const BLOCKED = new net.BlockList();
for (const [a, p] of BLOCKED_V4) BLOCKED.addSubnet(a, p, 'ipv4');
for (const [a, p] of BLOCKED_V6) BLOCKED.addSubnet(a, p, 'ipv6');

/** `::ffff:1.2.3.4` -> `1.2.3.4`; anything else unchanged. */
function unmap(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip;
}

/** Named ranges an allow-list entry may use instead of a CIDR. */
const NAMED: Record<string, ReadonlyArray<[string, number, 'ipv4' | 'ipv6']>> = {
  loopback: [['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']],
  private: [['10.0.0.0', 8, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.168.0.0', 16, 'ipv4'], ['fc00::', 7, 'ipv6']],
};

export interface EgressPolicy {
  /** Allow-listed ranges: CIDRs (`10.1.0.0/16`), single addresses, or `loopback` / `private`. */
  allow: string[];
  /** The co-signer's own listeners, never called: `host:port`, `[v6]:port` or `*:port`. */
  ownListeners: string[];
}

interface Listener { ip: string | '*'; port: number }

/** Parses `COSIGNER_CALLBACK_ALLOW`-style lists (comma or whitespace separated). */
export function splitList(s: string | undefined): string[] {
  return (s ?? '').split(/[\s,]+/).filter((x) => x !== '');
}

export class EgressGuard {
  readonly #allow = new net.BlockList();
  readonly #own: Listener[] = [];
  /** Names of the own listeners given by host name: resolved lazily, compared by address. */
  readonly #ownByName: Array<{ host: string; port: number }> = [];

  /** Throws on a malformed entry (config is validated once at start). */
  constructor(p: EgressPolicy) {
    for (const raw of p.allow) {
      const named = NAMED[raw.toLowerCase()];
      if (named) {
        for (const [a, l, t] of named) this.#allow.addSubnet(a, l, t);
        continue;
      }
      const [addr, len, ...rest] = raw.split('/');
      const fam = net.isIP(addr ?? '');
      if (rest.length > 0 || fam === 0) throw new Error(`callback allow-list entry ${JSON.stringify(raw)} is not a CIDR, an address, "loopback" or "private"`);
      const type = fam === 4 ? 'ipv4' : 'ipv6';
      const bits = len === undefined ? (fam === 4 ? 32 : 128) : Number(len);
      if (!Number.isInteger(bits) || bits < 0 || bits > (fam === 4 ? 32 : 128) || (len !== undefined && !/^\d+$/.test(len))) {
        throw new Error(`callback allow-list entry ${JSON.stringify(raw)} has a bad prefix length`);
      }
      this.#allow.addSubnet(addr!, bits, type);
    }
    for (const raw of p.ownListeners) {
      const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(raw);
      const port = m ? Number(m[3]) : NaN;
      if (!m || port < 1 || port > 65535) throw new Error(`own listener ${JSON.stringify(raw)} is not host:port`);
      const host = (m[1] ?? m[2])!;
      if (host === '*') this.#own.push({ ip: '*', port });
      else if (net.isIP(host)) this.#own.push({ ip: unmap(host), port });
      else this.#ownByName.push({ host, port });
    }
  }

  /** Resolves the own listeners named by host (at start; a name that does not resolve is skipped). */
  async resolveOwn(): Promise<void> {
    for (const { host, port } of this.#ownByName.splice(0)) {
      try {
        for (const a of await dns.promises.lookup(host, { all: true })) this.#own.push({ ip: unmap(a.address), port });
      } catch {
        // An own listener whose name does not resolve cannot be reached by that name either.
      }
    }
  }

  /** Whether a connection to ip:port is allowed. */
  allows(ip: string, port: number): boolean {
    const a = unmap(ip);
    const fam = net.isIP(a);
    if (fam === 0) return false;
    const type = fam === 4 ? 'ipv4' : 'ipv6';
    if (this.#own.some((o) => o.port === port && (o.ip === '*' || o.ip === a))) return false;
    if (!BLOCKED.check(a, type)) return true;
    return this.#allow.check(a, type);
  }

  /** Throws EgressRefused when ip:port is not allowed. */
  check(ip: string, port: number): void {
    if (!this.allows(ip, port)) throw new EgressRefused();
  }

  /**
   * A `lookup` for net/tls/http that resolves with the system resolver and refuses the connection
   * unless every address it returns is allowed for `port` (one refused address refuses the name:
   * which of several addresses gets dialled is not ours to predict).
   */
  lookupFor(port: number): net.LookupFunction {
    return ((hostname: string, options: dns.LookupOptions, cb: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void) => {
      dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) { cb(err, ''); return; }
        const list = addresses as dns.LookupAddress[];
        if (list.length === 0 || list.some((a) => !this.allows(a.address, port))) { cb(new EgressRefused() as NodeJS.ErrnoException, ''); return; }
        if (options.all) cb(null, list);
        else cb(null, list[0]!.address, list[0]!.family);
      });
    }) as net.LookupFunction;
  }
}
