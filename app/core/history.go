package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// History imports a shop's customers and orders with Shopify bulk queries
// into the tables the webhooks fill, and plans nothing: no journey, no
// message, whatever the history holds (a 2021 order gets no thank-you).
//
// Each kind moves pending → running (the bulk query runs at Shopify) →
// importing (its JSONL streams into the database in batches, the cursor
// committed with each batch) → done or failed. Step does what is due and
// is safe to run again at any time, from the bulk_operations/finish
// webhook or the poll: a crash resumes after the last committed batch.
type History struct {
	DB     *store.DB
	Tokens *Tokens
	// Results downloads bulk results (shopify.App).
	Results BulkResults
	Log     *slog.Logger
	Now     func() time.Time
	// Batch is the number of root objects per transaction (default 5000).
	Batch int
}

// BulkResults opens a finished bulk operation's JSONL by its signed URL.
type BulkResults interface {
	OpenBulkResult(ctx context.Context, url string) (io.ReadCloser, error)
}

func (h *History) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

func (h *History) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// Start (re)starts the shop's history import; since bounds the orders
// imported (nil: all). A conflict while one is under way.
func (h *History) Start(ctx context.Context, shopID int64, since *time.Time) ([]store.HistoryImport, error) {
	hs, err := h.DB.StartHistoryImport(ctx, shopID, since, h.now())
	if errors.Is(err, store.ErrHistoryBusy) {
		return nil, Errorf(ECONFLICT, "履歴の取り込みはすでに進行中です / A history import is already under way")
	}
	return hs, err
}

// Step moves each of the shop's imports as far as it can now and reports
// whether all have ended (done or failed), so that polling can stop.
func (h *History) Step(ctx context.Context, shop *store.Shop) (ended bool, err error) {
	hs, err := h.DB.HistoryImports(ctx, shop.ID)
	if err != nil {
		return false, err
	}
	ended = true
	for i := range hs {
		imp := &hs[i]
		if !imp.Active() {
			continue
		}
		if err := h.step(ctx, shop, imp); err != nil {
			return false, err
		}
		ended = ended && !imp.Active()
	}
	return ended, nil
}

func (h *History) step(ctx context.Context, shop *store.Shop, imp *store.HistoryImport) error {
	admin, err := h.Tokens.Admin(shop)
	if err != nil {
		return err
	}
	if admin == nil {
		return h.fail(ctx, imp, "Shopify is not connected")
	}
	if imp.Status == store.HistoryPending {
		query, group := shopify.HistoryOrdersQuery(imp.Since), true
		if imp.Kind == store.HistoryCustomers {
			query, group = shopify.HistoryCustomersQuery(), false
		}
		id, err := admin.RunBulkQuery(ctx, query, group)
		if err != nil {
			if strings.Contains(strings.ToLower(err.Error()), "limit reached") {
				return nil // the shop's bulk slots are taken: the next poll tries again
			}
			return err
		}
		if ok, err := h.DB.MoveHistoryImport(ctx, imp.ID, store.HistoryPending, map[string]any{"status": store.HistoryRunning, "bulk_id": id}, h.now()); err != nil || !ok {
			return err
		}
		imp.Status, imp.BulkID = store.HistoryRunning, id
	}
	op, err := admin.BulkOperation(ctx, imp.BulkID)
	if err != nil {
		return err
	}
	if imp.Status == store.HistoryRunning {
		switch {
		case !op.Done():
			return nil
		case op.Status != shopify.BulkCompleted:
			return h.fail(ctx, imp, fmt.Sprintf("Shopify's bulk query ended %s %s", op.Status, op.ErrorCode))
		}
		total, _ := strconv.ParseInt(op.RootCount, 10, 64)
		now := h.now()
		if ok, err := h.DB.MoveHistoryImport(ctx, imp.ID, store.HistoryRunning,
			map[string]any{"status": store.HistoryImporting, "rows_total": total, "importing_at": now}, now); err != nil || !ok {
			return err
		}
		imp.Status, imp.RowsTotal = store.HistoryImporting, total
	}
	if op.URL == "" { // a finished query with no result: nothing to import
		return h.finish(ctx, imp)
	}
	body, err := h.Results.OpenBulkResult(ctx, op.URL)
	if err != nil {
		return err
	}
	defer body.Close()
	err = h.Import(ctx, shop.ID, imp, body)
	if errors.Is(err, store.ErrHistoryCursor) {
		h.log().InfoContext(ctx, "history import taken over by another worker", "shop", shop.Domain, "kind", imp.Kind)
		return nil
	}
	if err != nil {
		return err
	}
	return h.finish(ctx, imp)
}

func (h *History) finish(ctx context.Context, imp *store.HistoryImport) error {
	if imp.Kind == store.HistoryOrders {
		// Once per import, not per batch: a customer's orders are spread
		// over the file. A crash before the import is marked done runs it again.
		if _, err := h.DB.RefreshShopCustomerStats(ctx, imp.ShopID); err != nil {
			return err
		}
	}
	now := h.now()
	_, err := h.DB.MoveHistoryImport(ctx, imp.ID, store.HistoryImporting, map[string]any{"status": store.HistoryDone, "finished_at": now}, now)
	if err == nil {
		imp.Status = store.HistoryDone
		h.log().InfoContext(ctx, "history import done", "shop_id", imp.ShopID, "kind", imp.Kind, "rows", imp.RowsDone, "written", imp.RowsWritten)
	}
	return err
}

func (h *History) fail(ctx context.Context, imp *store.HistoryImport, reason string) error {
	now := h.now()
	_, err := h.DB.MoveHistoryImport(ctx, imp.ID, imp.Status, map[string]any{"status": store.HistoryFailed, "error": reason, "finished_at": now}, now)
	if err == nil {
		imp.Status = store.HistoryFailed
		h.log().WarnContext(ctx, "history import failed", "shop_id", imp.ShopID, "kind", imp.Kind, "reason", reason)
	}
	return err
}

// historyBatch is the default number of root objects per transaction.
const historyBatch = 5000

// Import streams a bulk result (r) into the database from the import's
// cursor: root objects already committed are read past, the rest go in
// batches, each committed with the cursor. Reading and decoding run one
// batch ahead of the database, so the two overlap; memory holds at most
// three batches.
func (h *History) Import(ctx context.Context, shopID int64, imp *store.HistoryImport, r io.Reader) error {
	size := h.Batch
	if size <= 0 {
		size = historyBatch
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := make(chan historyRows, 1)
	decoded := make(chan error, 1)
	go func() {
		defer close(full)
		decoded <- decodeHistory(ctx, shopID, imp.Kind, imp.RowsDone, size, r, full)
	}()
	for b := range full {
		var n, written int
		var err error
		if imp.Kind == store.HistoryOrders {
			n = len(b.orders)
			written, err = h.DB.ImportOrderBatch(ctx, imp.ID, imp.RowsDone, b.orders, h.now())
		} else {
			n = len(b.customers)
			written, err = h.DB.ImportCustomerBatch(ctx, shopID, imp.ID, imp.RowsDone, b.customers, h.now())
		}
		if err != nil {
			cancel() // the reader stops at its next batch
			<-decoded
			return err
		}
		imp.RowsDone += int64(n)
		imp.RowsWritten += int64(written)
	}
	return <-decoded
}

// historyRows is one batch of decoded root objects of one kind.
type historyRows struct {
	orders    []store.ImportedOrder
	customers []store.ImportedCustomer
}

// decodeHistory reads a bulk result, skips the first `skip` root objects
// (committed before) and sends the rest in batches of size.
func decodeHistory(ctx context.Context, shopID int64, kind string, skip int64, size int, r io.Reader, out chan<- historyRows) error {
	var (
		seen int64
		b    historyRows
	)
	send := func() error {
		select {
		case out <- b:
			b = historyRows{}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := shopify.StreamBulk(r, func(o shopify.BulkObject) error {
		if seen++; seen <= skip {
			return nil // committed before a crash
		}
		if kind == store.HistoryOrders {
			ho, err := shopify.DecodeHistoryOrder(o)
			if err != nil {
				return err
			}
			if b.orders == nil {
				b.orders = make([]store.ImportedOrder, 0, size)
			}
			if b.orders = append(b.orders, historyOrder(shopID, ho)); len(b.orders) == size {
				return send()
			}
			return nil
		}
		hc, err := shopify.DecodeHistoryCustomer(o)
		if err != nil {
			return err
		}
		if b.customers == nil {
			b.customers = make([]store.ImportedCustomer, 0, size)
		}
		if b.customers = append(b.customers, historyCustomer(hc)); len(b.customers) == size {
			return send()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(b.orders) > 0 || len(b.customers) > 0 {
		return send()
	}
	return nil
}

func historyOrder(shopID int64, o shopify.HistoryOrder) store.ImportedOrder {
	so := store.Order{ShopID: shopID, ShopifyID: o.ID, Name: CleanText(o.Name, 255), Email: CleanText(o.Email, 320), Currency: o.Currency,
		TotalPrice: o.TotalPrice, SubtotalPrice: o.SubtotalPrice, FinancialStatus: o.FinancialStatus, FulfillmentStatus: o.FulfillmentStat,
		OrderStatusURL: CleanText(o.StatusURL, 2048), DiscountCodes: CleanText(o.DiscountCodes, 1024), Locale: CleanText(o.Locale, 35),
		OrderedAt: o.CreatedAt, ShopifyUpdatedAt: o.UpdatedAt, CancelledAt: o.CancelledAt}
	items := o.Items
	if len(items) > MaxOrderItems {
		items = items[:MaxOrderItems]
	}
	so.Items = make([]store.OrderItem, len(items))
	for i, it := range items {
		so.Items[i] = store.OrderItem{ShopifyID: it.ID, ProductID: it.ProductID, VariantID: it.VariantID, Title: CleanText(it.Title, 512),
			Vendor: CleanText(it.Vendor, 255), SKU: CleanText(it.SKU, 255), Quantity: it.Quantity, Price: it.Price}
	}
	return store.ImportedOrder{Order: so, CustomerShopifyID: o.CustomerID}
}

func historyCustomer(c shopify.HistoryCustomer) store.ImportedCustomer {
	tags := make([]string, 0, len(c.Tags))
	for _, t := range c.Tags {
		tags = append(tags, CleanText(t, 255))
	}
	return store.ImportedCustomer{ShopifyID: c.ID, Email: CleanText(c.Email, 320), FirstName: CleanText(c.FirstName, 255),
		LastName: CleanText(c.LastName, 255), Phone: CleanText(c.Phone, 64), Locale: CleanText(c.Locale, 35),
		Region: CleanText(c.Region, 255), Country: CleanText(c.Country, 8), Tags: tags,
		EmailConsent: c.EmailConsent, SMSConsent: c.SMSConsent, EmailConsentAt: c.EmailConsentAt, SMSConsentAt: c.SMSConsentAt,
		Birthday: c.Birthday, UpdatedAt: c.UpdatedAt}
}
