// Pure part of the pixel: which events to send and in what shape. The app's
// ingest endpoint (POST /pixel/events) validates the same shape.

export const SUBSCRIBED = [
  'product_viewed',
  'collection_viewed',
  'product_added_to_cart',
  'checkout_started',
  'search_submitted',
] as const;
export type EventName = (typeof SUBSCRIBED)[number];

export interface IngestEvent {
  id: string;
  name: EventName;
  ts: string;
  product_id?: string;
  variant_id?: string;
  title?: string;
  url?: string;
  image?: string;
  price?: number;
  currency?: string;
  collection_id?: string;
  query?: string;
  quantity?: number;
  checkout_token?: string;
}

export interface Consent {
  analytics: boolean;
  marketing: boolean;
}

export interface IngestBatch {
  shop: string;
  key: string;
  client_id: string;
  customer_id?: string;
  /** the app's proof of customer_id, from the theme script's cookie */
  customer_token?: string;
  consent: Consent;
  events: IngestEvent[];
}

/** numericID turns "gid://shopify/Product/123" (or "123") into "123". */
export function numericID(v: unknown): string | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') {
    return undefined;
  }
  const m = /(\d+)$/.exec(String(v));
  return m ? m[1] : undefined;
}

function cut(v: unknown, max: number): string | undefined {
  return typeof v === 'string' && v !== '' ? v.slice(0, max) : undefined;
}

interface Variant {
  id?: string | null;
  title?: string | null;
  image?: { src?: string | null } | null;
  price?: { amount?: number; currencyCode?: string } | null;
  product?: { id?: string | null; title?: string; url?: string | null } | null;
}

function variantFields(v: Variant | null | undefined): Partial<IngestEvent> {
  if (!v) {
    return {};
  }
  return {
    product_id: numericID(v.product?.id),
    variant_id: numericID(v.id),
    title: cut(v.product?.title, 255),
    url: cut(v.product?.url, 1000),
    image: cut(v.image?.src, 1000),
    price: typeof v.price?.amount === 'number' ? v.price.amount : undefined,
    currency: cut(v.price?.currencyCode, 3),
  };
}

/** toIngest maps a Shopify customer event to what the app stores, or null
 * for events the app does not use. */
export function toIngest(ev: { id: string; name: string; timestamp: string; data?: any }): IngestEvent | null {
  const base = { id: ev.id, name: ev.name as EventName, ts: ev.timestamp };
  const d = ev.data ?? {};
  switch (ev.name) {
    case 'product_viewed':
      return { ...base, ...variantFields(d.productVariant) };
    case 'product_added_to_cart':
      return { ...base, ...variantFields(d.cartLine?.merchandise), quantity: d.cartLine?.quantity };
    case 'collection_viewed':
      return { ...base, collection_id: numericID(d.collection?.id), title: cut(d.collection?.title, 255) };
    case 'search_submitted':
      return { ...base, query: cut(d.searchResult?.query, 255) };
    case 'checkout_started':
      return { ...base, checkout_token: cut(d.checkout?.token, 255) };
    default:
      return null;
  }
}

/** allowed says whether the visitor's choices let us keep events at all:
 * browse abandonment is marketing, so both analytics and marketing. */
export function allowed(c: Consent): boolean {
  return c.analytics && c.marketing;
}

/** Batcher collects events and sends them at most every `delayMs` or when
 * `max` are waiting; checkout_started goes at once (the page is leaving). */
export class Batcher {
  private queue: IngestEvent[] = [];
  private timer: unknown = null;
  constructor(
    private send: (events: IngestEvent[]) => void,
    private schedule: (fn: () => void, ms: number) => unknown,
    private cancel: (t: unknown) => void,
    private delayMs = 1000,
    private max = 10,
  ) {}

  add(ev: IngestEvent): void {
    this.queue.push(ev);
    if (ev.name === 'checkout_started' || this.queue.length >= this.max) {
      this.flush();
    } else if (this.timer === null) {
      this.timer = this.schedule(() => this.flush(), this.delayMs);
    }
  }

  flush(): void {
    if (this.timer !== null) {
      this.cancel(this.timer);
      this.timer = null;
    }
    if (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      this.send(batch);
    }
  }
}
