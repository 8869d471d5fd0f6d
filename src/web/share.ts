// Share a scenario and a step by URL: the scenario text, deflated (CompressionStream 'deflate-raw',
// in browsers and Node alike) and base64url-encoded, in the fragment, so nothing reaches a server.

/** The fragment's fields. */
export interface Shared {
  text: string;
  step: number;
}

function toBase64Url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(s: string): Uint8Array {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function pipe(bytes: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const out = new Response(new Blob([bytes as BlobPart]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

/** `s=<deflated text>&step=N`, for location.hash. */
export async function encodeShare(sh: Shared): Promise<string> {
  const z = await pipe(new TextEncoder().encode(sh.text), new CompressionStream('deflate-raw'));
  return `s=${toBase64Url(z)}&step=${sh.step}`;
}

/** The scenario and step in a fragment made by encodeShare(), or undefined when it has none. */
export async function decodeShare(fragment: string): Promise<Shared | undefined> {
  const params = new URLSearchParams(fragment.replace(/^#/, ''));
  const s = params.get('s');
  if (!s) return undefined;
  const text = new TextDecoder().decode(await pipe(fromBase64Url(s), new DecompressionStream('deflate-raw')));
  const step = Number(params.get('step') ?? '0');
  return { text, step: Number.isInteger(step) && step >= 0 ? step : 0 };
}
