import { describe, expect, it } from 'vitest';
import { Batcher, IngestEvent, allowed, numericID, toIngest } from './events';

const variant = {
  id: 'gid://shopify/ProductVariant/456',
  image: { src: 'https://cdn.shopify.com/a.jpg' },
  price: { amount: 1200, currencyCode: 'JPY' },
  product: { id: 'gid://shopify/Product/123', title: '湯呑み', url: '/products/yunomi' },
};

describe('toIngest', () => {
  it.each([
    [
      'product_viewed',
      { productVariant: variant },
      { product_id: '123', variant_id: '456', title: '湯呑み', url: '/products/yunomi', price: 1200, currency: 'JPY' },
    ],
    ['product_added_to_cart', { cartLine: { merchandise: variant, quantity: 2 } }, { product_id: '123', quantity: 2 }],
    ['collection_viewed', { collection: { id: 'gid://shopify/Collection/9', title: 'Cups' } }, { collection_id: '9', title: 'Cups' }],
    ['search_submitted', { searchResult: { query: 'tea' } }, { query: 'tea' }],
    ['checkout_started', { checkout: { token: 'ck1' } }, { checkout_token: 'ck1' }],
  ])('%s', (name, data, want) => {
    const got = toIngest({ id: 'e1', name, timestamp: '2026-12-01T00:00:00Z', data });
    expect(got).toMatchObject({ id: 'e1', name, ts: '2026-12-01T00:00:00Z', ...want });
  });
  it('ignores events the app does not use', () => {
    expect(toIngest({ id: 'e', name: 'page_viewed', timestamp: 't' })).toBeNull();
  });
  it('bounds long strings', () => {
    const got = toIngest({ id: 'e', name: 'search_submitted', timestamp: 't', data: { searchResult: { query: 'q'.repeat(1000) } } });
    expect(got?.query).toHaveLength(255);
  });
});

describe('helpers', () => {
  it('numericID', () => {
    expect(numericID('gid://shopify/Customer/77')).toBe('77');
    expect(numericID(77)).toBe('77');
    expect(numericID(null)).toBeUndefined();
    expect(numericID('abc')).toBeUndefined();
  });
  it('consent needs analytics and marketing', () => {
    expect(allowed({ analytics: true, marketing: true })).toBe(true);
    expect(allowed({ analytics: true, marketing: false })).toBe(false);
  });
});

describe('Batcher', () => {
  const ev = (name: IngestEvent['name'], id: string): IngestEvent => ({ id, name, ts: 't' });
  it('waits, then sends together; checkout_started flushes at once', () => {
    const sent: string[][] = [];
    let pending: (() => void) | null = null;
    const b = new Batcher(
      (es) => sent.push(es.map((e) => e.id)),
      (fn) => {
        pending = fn;
        return 1;
      },
      () => {
        pending = null;
      },
    );
    b.add(ev('product_viewed', 'a'));
    b.add(ev('product_viewed', 'b'));
    expect(sent).toEqual([]);
    b.add(ev('checkout_started', 'c'));
    expect(sent).toEqual([['a', 'b', 'c']]);
    expect(pending).toBeNull();
    b.add(ev('search_submitted', 'd'));
    (pending as unknown as () => void)();
    expect(sent).toEqual([['a', 'b', 'c'], ['d']]);
  });
  it('sends when full', () => {
    const sent: number[] = [];
    const b = new Batcher((es) => sent.push(es.length), () => 1, () => {}, 1000, 3);
    for (let i = 0; i < 7; i++) b.add(ev('product_viewed', String(i)));
    expect(sent).toEqual([3, 3]);
  });
});
