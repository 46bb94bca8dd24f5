// One time on screen: the server's clock, simulated or not, carried forward between
// snapshots at the server's speed. Header, footer, ages and periods all read it.
import { state } from "./dom.js";

export const speed = () => (state.last && state.last.snap.clock ? state.last.snap.clock.speed : 1);
export const simulated = () => Boolean(state.last && state.last.snap.clock && state.last.snap.clock.simulated);

// real seconds since the newest snapshot arrived
export const sinceSnapshot = () => (state.last ? (performance.now() - state.last.receivedAt) / 1000 : 0);

// the server's "now" (ms since the epoch), as it is at this moment
export function serverNow() {
  if (!state.last) return Date.now();
  return Date.parse(state.last.snap.generated_at) + sinceSnapshot() * 1000 * speed();
}

// how old a server timestamp is, in the server's (maybe simulated) seconds
export const ageOf = (iso) => (serverNow() - Date.parse(iso)) / 1000;

export const zone = () => (state.last ? state.last.snap.site.timezone : undefined);
