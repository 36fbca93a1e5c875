import '@shopify/ui-extensions/preact';
import { render } from 'preact';
import { LinkBlock } from './Block';

// customer-account.order-status.block.render: the customer is signed in, so
// the session token's sub names them; the app checks the order is theirs.
export default async () => {
  render(
    <LinkBlock
      api={{
        target: 'order_status',
        orderID: () => shopify.order.value?.id,
        checkoutToken: () => undefined,
        token: () => shopify.sessionToken.get(),
        settings: () => shopify.settings.value,
        language: () => shopify.localization.language.value?.isoCode,
      }}
    />,
    document.body,
  );
};
