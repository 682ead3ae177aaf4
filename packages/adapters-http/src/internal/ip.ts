/**
 * Address matching for the admin allowlist and trusted proxies, on Node's `net.BlockList`
 * (exact addresses and CIDR ranges, IPv4 and IPv6; IPv4-mapped IPv6 addresses count as IPv4).
 */
import { BlockList, isIP } from "node:net"

/** Strips the IPv4-mapped prefix (`::ffff:10.0.0.1` → `10.0.0.1`) and zone ids; null when not an IP. */
export const normalizeIp = (raw: string | undefined | null): string | null => {
  if (raw === undefined || raw === null) return null
  let ip = raw.trim()
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1)
  const zone = ip.indexOf("%")
  if (zone >= 0) ip = ip.slice(0, zone)
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip)) ip = ip.slice(7)
  return isIP(ip) === 0 ? null : ip.toLowerCase()
}

/** Does an address belong to a configured list? */
export interface IpMatcher {
  readonly empty: boolean
  readonly has: (ip: string | null) => boolean
}

/** Builds a matcher; throws on an entry that is neither an address nor a CIDR range. */
export const makeIpMatcher = (entries: ReadonlyArray<string>): IpMatcher => {
  const list = new BlockList()
  for (const entry of entries) {
    const [addr, prefix, ...rest] = entry.split("/")
    const ip = normalizeIp(addr)
    if (ip === null || rest.length > 0) throw new Error(`not an IP address or CIDR range: ${entry}`)
    const family = isIP(ip) === 4 ? "ipv4" : "ipv6"
    if (prefix === undefined) {
      list.addAddress(ip, family)
    } else {
      const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN
      if (!(bits >= 0 && bits <= (family === "ipv4" ? 32 : 128))) throw new Error(`bad prefix length: ${entry}`)
      list.addSubnet(ip, bits, family)
    }
  }
  return {
    empty: entries.length === 0,
    has: (ip) => ip !== null && list.check(ip, isIP(ip) === 4 ? "ipv4" : "ipv6")
  }
}

/**
 * The client address of a request. The socket peer is the client unless it is a trusted
 * proxy; then `X-Forwarded-For` is walked from the right, skipping trusted proxies, and the
 * first untrusted hop is the client (unknown — null — when a hop is malformed). Nothing a client writes in the header is believed unless
 * every hop after it is a trusted proxy, so the header cannot be used to spoof an allowlisted address.
 */
export const clientIp = (peer: string | null, forwardedFor: string | undefined, trusted: IpMatcher): string | null => {
  if (peer === null || trusted.empty || !trusted.has(peer) || forwardedFor === undefined) return peer
  const hops = forwardedFor.split(",")
  let client: string = peer
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i])
    // a malformed hop means the chain cannot be trusted: the client is unknown
    if (hop === null) return null
    client = hop
    if (!trusted.has(hop)) return hop
  }
  return client
}

/**
 * The address a per-address limit counts a client under: an IPv4 address itself, an IPv6
 * address's /64 network (one host usually holds a whole /64, and picks any address in it), null
 * when unknown.
 */
export const addressGroup = (ip: string | null): string | null => {
  if (ip === null || isIP(ip) !== 6) return ip
  const [head = "", tail] = ip.split("::")
  const left = head === "" ? [] : head.split(":")
  const right = tail === undefined || tail === "" ? [] : tail.split(":")
  // an embedded IPv4 tail (::1.2.3.4) is in the last 32 bits, outside the /64
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right]
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`
}
