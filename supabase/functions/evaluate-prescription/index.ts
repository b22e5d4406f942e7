/**
 * Supabase Edge Function entry point: POST evaluate-prescription (research tool, not for clinical use).
 *
 * The handler lives in handler.ts so tests can call it with a Request.
 * Serve locally: DENO_SERVE_ADDRESS=tcp:127.0.0.1:8787 GROQ_API_KEY=... deno run --allow-net --allow-env index.ts
 */

import { handle } from "./handler.ts";

Deno.serve((req) => handle(req));
