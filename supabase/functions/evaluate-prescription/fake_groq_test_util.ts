/**
 * A fake Groq (OpenAI-compatible chat completions) on a loopback port, for the Deno tests.
 *
 * Replies come from a queue the test fills: {answer} (message content as JSON), {content} (raw text) or
 * {status, headers, body} (an HTTP error). Every request is recorded (headers lower-cased, parsed body).
 * Used by vectors_test.ts and handler_test.ts.
 */

export interface Reply {
  answer?: unknown;
  content?: string;
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  delayMs?: number; // wait this long before answering (timeouts)
}

export interface Recorded {
  path: string;
  headers: Record<string, string>;
  body: {
    model: string;
    messages: { role: string; content: string }[];
    temperature: number;
    response_format: { type: string };
  };
}

export class FakeGroq {
  readonly replies: Reply[] = [];
  readonly requests: Recorded[] = [];
  private server: Deno.HttpServer<Deno.NetAddr>;

  constructor() {
    this.server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => this.answer(req));
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.server.addr.port}/openai/v1`;
  }

  private async answer(req: Request): Promise<Response> {
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => (headers[k] = v));
    this.requests.push({ path: new URL(req.url).pathname, headers, body: await req.json() });
    const reply = this.replies.shift();
    if (!reply) return Response.json({ error: { message: "no scripted reply left" } }, { status: 500 });
    if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    if (reply.status && reply.status >= 400) {
      return Response.json(reply.body ?? {}, { status: reply.status, headers: reply.headers });
    }
    const content = reply.content ?? JSON.stringify(reply.answer);
    return Response.json({
      id: "chatcmpl-fake",
      object: "chat.completion",
      model: "fake",
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    }, { headers: reply.headers });
  }

  reset(replies: Reply[]): void {
    this.replies.splice(0, this.replies.length, ...replies);
    this.requests.splice(0, this.requests.length);
  }

  async close(): Promise<void> {
    await this.server.shutdown();
  }
}
