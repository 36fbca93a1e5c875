package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// TestHotCountersCommitAsyncOnlyOnTheirOwn: the campaign's batch count and
// the quota use are hot rows updated by every worker, so on PostgreSQL
// their statement turns synchronous_commit off for its own transaction —
// and never inside a caller's transaction, whose other writes must stay
// durable. The counts themselves still add up.
func TestHotCountersCommitAsyncOnlyOnTheirOwn(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	shop := newShop(t, db)
	ch := &store.LineChannel{ShopID: shop.ID, WebhookKey: "counters"}
	if err := db.SaveLineChannel(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveChannelQuotaReading(ctx, shop.ID, ch.ID, true, 1000, 10, time.Now()); err != nil {
		t.Fatal(err)
	}

	// On its own: the fragment turns synchronous commit off for the
	// statement's transaction (seen here inside an explicit one).
	from := db.AsyncCommitFrom()
	if from == "" {
		t.Fatal("no async-commit fragment on PostgreSQL outside a transaction")
	}
	sqlDB, err := db.G.DB()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var setting string
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "UPDATE line_channel_quotas SET used = used"+from+" WHERE shop_id = $1", shop.ID); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if setting != "off" {
		t.Errorf("synchronous_commit after the counter update = %q, want off", setting)
	}

	// Inside a caller's transaction: left as it was.
	err = db.Tx(ctx, func(tx *store.DB) error {
		if err := tx.AddChannelQuotaUse(ctx, ch.ID, 5); err != nil {
			return err
		}
		return tx.G.Raw("SHOW synchronous_commit").Scan(&setting).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	if setting != "on" {
		t.Errorf("synchronous_commit inside a transaction after AddChannelQuotaUse = %q, want on", setting)
	}

	if err := db.AddChannelQuotaUse(ctx, ch.ID, 7); err != nil {
		t.Fatal(err)
	}
	q, err := db.LineQuota(ctx, shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	if q.Used != 10+5+7 {
		t.Errorf("quota used = %d, want 22", q.Used)
	}
}
