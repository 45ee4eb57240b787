// A long-lived JWT verifier built on node `jose`'s `createRemoteJWKSet` + `jwtVerify`, for
// crates/jwtx-server/tests/interop_jwks.rs.
//
//   node jose_verifier.mjs NODE_MODULES JWKS_URL ALG CACHE_SECONDS
//
// One remote key set for the process's whole life (so its cache is what gets exercised
// across key rotations): cached for CACHE_SECONDS (the server's `Cache-Control: max-age`),
// with no cooldown, so an unknown `kid` refetches at once. Prints one JSON line on start
// ({"ready": true, "jose": version}), then reads one token per line on stdin and answers
// each with one JSON line:
//   {"valid": true, "sub": …, "kid": …, "fetches": n}
//   {"valid": false, "reason": "no_key" | "signature" | "other", "error": …, "fetches": n}
// where `fetches` counts the JWKS fetches made so far.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const [nodeModules, jwksUrl, alg, cacheSeconds] = process.argv.slice(2);
if (!nodeModules || !jwksUrl || !alg || !cacheSeconds) {
  console.error("usage: jose_verifier.mjs NODE_MODULES JWKS_URL ALG CACHE_SECONDS");
  process.exit(2);
}

// jose lives in target/, not beside this script: resolve it from there.
const require = createRequire(join(nodeModules, "..", "package.json"));
const jose = await import(pathToFileURL(require.resolve("jose")).href);
const { version } = JSON.parse(readFileSync(join(nodeModules, "jose", "package.json"), "utf8"));

let fetches = 0;
const jwks = jose.createRemoteJWKSet(new URL(jwksUrl), {
  cacheMaxAge: Number(cacheSeconds) * 1000,
  cooldownDuration: 0,
  timeoutDuration: 10000,
  [jose.customFetch]: (url, options) => {
    fetches += 1;
    return fetch(url, options);
  },
});

function reason(err) {
  if (err instanceof jose.errors.JWKSNoMatchingKey) return "no_key";
  if (err instanceof jose.errors.JWSSignatureVerificationFailed) return "signature";
  return "other";
}

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
out({ ready: true, jose: version });

// Lines are handled one at a time, in order: each answer before the next line is read.
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  const token = line.trim();
  if (!token) continue;
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, { algorithms: [alg] });
    out({ valid: true, sub: payload.sub, kid: protectedHeader.kid, fetches });
  } catch (err) {
    out({ valid: false, reason: reason(err), error: `${err.name}: ${err.message}`, fetches });
  }
}
