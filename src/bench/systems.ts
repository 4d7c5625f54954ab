/** The systems htdag ships with its benchmark: itself (Postgres and PGlite) and the raw-SQL floor. Peers live in bench/peers. */
import { floorSystem } from "./floor-system.js";
import { htdagPglite, htdagPostgres } from "./htdag-system.js";
import type { BenchSystem } from "./types.js";

export const BUILT_IN_SYSTEMS: readonly BenchSystem[] = [htdagPostgres, htdagPglite, floorSystem];

/** Names of the peers, in report order; their adapters are in bench/peers (devDependencies only). */
export const PEER_NAMES = ["graphile-worker", "pg-boss"] as const;
