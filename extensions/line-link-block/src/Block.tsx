import { useEffect, useState } from 'preact/hooks';
import { BlockSettings, BlockView, blockRequestURL, fetchBlock, view } from './logic';

// Where the app lives; set at build time from TSUNAGU_BASE_URL.
declare const TSUNAGU_APP_URL: string;

export interface BlockAPI {
  target: 'thank_you' | 'order_status';
  orderID: () => string | undefined;
  checkoutToken: () => string | undefined;
  token: () => Promise<string>;
  settings: () => BlockSettings;
  language: () => string | undefined;
}

export function LinkBlock({ api }: { api: BlockAPI }) {
  const [v, setV] = useState<BlockView | null>(null);
  useEffect(() => {
    const order = api.orderID();
    if (!order) {
      return;
    }
    const url = blockRequestURL(TSUNAGU_APP_URL, api.target, order, api.checkoutToken(), api.language());
    fetchBlock((u, init) => fetch(u, init), url, api.token, (ms) => new Promise((r) => setTimeout(r, ms))).then((res) =>
      setV(view(res, api.settings(), api.language())),
    );
  }, []);
  if (!v) {
    return null;
  }
  return (
    <s-section heading={v.heading}>
      <s-stack gap="base">
        <s-text>{v.body}</s-text>
        <s-button variant="primary" href={v.url} target="_blank">
          {v.buttonLabel}
        </s-button>
        {v.showQR ? <s-qr-code content={v.url} accessibilityLabel={v.buttonLabel} /> : null}
      </s-stack>
    </s-section>
  );
}
