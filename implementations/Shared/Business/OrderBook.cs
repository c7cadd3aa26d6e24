using Npgsql;

namespace Dtx.Shared.Business;

/// <summary>
/// The participant's business: orders and a deliberately non-idempotent running total per customer. Applying
/// the same order twice adds its quantity twice, so a protocol that lets a duplicate through changes a sum the
/// checker compares, instead of hiding behind a primary key. Idempotency is the protocol's job (the inbox).
/// </summary>
public static class OrderBook
{
    public const string Schema = """
        CREATE TABLE IF NOT EXISTS orders (
            order_id      text PRIMARY KEY,
            sku           text NOT NULL,
            qty           int NOT NULL,
            customer_id   text NOT NULL,
            status        text NOT NULL,
            processed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE TABLE IF NOT EXISTS customer_spend (
            customer_id  text PRIMARY KEY,
            total        bigint NOT NULL
        );
        -- One row per application, so that a duplicate effect is counted rather than rejected.
        CREATE TABLE IF NOT EXISTS order_applications (
            order_id    text NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX IF NOT EXISTS order_applications_order ON order_applications (order_id);
        """;

    /// <summary>Records the order with its outcome, in the caller's transaction. Not idempotent on purpose.</summary>
    public static async Task ApplyAsync(NpgsqlConnection db, NpgsqlTransaction tx, PlaceOrder order, Outcome outcome, CancellationToken ct)
    {
        await using var apply = new NpgsqlCommand("""
            INSERT INTO orders (order_id, sku, qty, customer_id, status)
            VALUES (@order_id, @sku, @qty, @customer_id, @status)
            ON CONFLICT (order_id) DO NOTHING;
            INSERT INTO order_applications (order_id) VALUES (@order_id);
            """, db, tx);
        apply.Parameters.AddWithValue("order_id", order.OrderId);
        apply.Parameters.AddWithValue("sku", order.Sku);
        apply.Parameters.AddWithValue("qty", order.Qty);
        apply.Parameters.AddWithValue("customer_id", order.CustomerId);
        apply.Parameters.AddWithValue("status", outcome == Outcome.Created ? "created" : "rejected");
        await apply.ExecuteNonQueryAsync(ct);

        if (outcome != Outcome.Created) return;
        await using var spend = new NpgsqlCommand("""
            INSERT INTO customer_spend (customer_id, total) VALUES (@customer_id, @qty)
            ON CONFLICT (customer_id) DO UPDATE SET total = customer_spend.total + excluded.total
            """, db, tx);
        spend.Parameters.AddWithValue("customer_id", order.CustomerId);
        spend.Parameters.AddWithValue("qty", (long)order.Qty);
        await spend.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// <see cref="ApplyAsync"/> for a batch, in one round trip: the orders, one application row each, and the spend
    /// summed per customer (one upsert per customer, in customer order, so concurrent batches cannot deadlock). Not
    /// idempotent either: an order given twice is applied twice.
    /// </summary>
    public static async Task ApplyAsync(NpgsqlConnection db, NpgsqlTransaction tx, IReadOnlyList<(PlaceOrder Order, Outcome Outcome)> applications, CancellationToken ct)
    {
        if (applications.Count == 0) return;
        var spend = applications.Where(a => a.Outcome == Outcome.Created)
            .GroupBy(a => a.Order.CustomerId, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (Customer: g.Key, Total: g.Sum(a => (long)a.Order.Qty)))
            .ToArray();
        await using var apply = new NpgsqlCommand("""
            INSERT INTO orders (order_id, sku, qty, customer_id, status)
            SELECT * FROM unnest(@order_ids, @skus, @qtys, @customer_ids, @statuses) ORDER BY 1
            ON CONFLICT (order_id) DO NOTHING;
            INSERT INTO order_applications (order_id) SELECT unnest(@order_ids);
            INSERT INTO customer_spend (customer_id, total)
            SELECT * FROM unnest(@spend_customer_ids, @spend_totals) ORDER BY 1
            ON CONFLICT (customer_id) DO UPDATE SET total = customer_spend.total + excluded.total;
            """, db, tx);
        apply.Parameters.AddWithValue("order_ids", applications.Select(a => a.Order.OrderId).ToArray());
        apply.Parameters.AddWithValue("skus", applications.Select(a => a.Order.Sku).ToArray());
        apply.Parameters.AddWithValue("qtys", applications.Select(a => a.Order.Qty).ToArray());
        apply.Parameters.AddWithValue("customer_ids", applications.Select(a => a.Order.CustomerId).ToArray());
        apply.Parameters.AddWithValue("statuses", applications.Select(a => a.Outcome == Outcome.Created ? "created" : "rejected").ToArray());
        apply.Parameters.AddWithValue("spend_customer_ids", spend.Select(s => s.Customer).ToArray());
        apply.Parameters.AddWithValue("spend_totals", spend.Select(s => s.Total).ToArray());
        await apply.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The outcomes recorded for orders the participant has already applied, in one statement; throws for one it has not.</summary>
    public static async Task<Dictionary<string, Outcome>> OutcomesOfAsync(NpgsqlConnection db, NpgsqlTransaction tx, IReadOnlyCollection<string> orderIds, CancellationToken ct)
    {
        var outcomes = new Dictionary<string, Outcome>(StringComparer.Ordinal);
        if (orderIds.Count == 0) return outcomes;
        await using var read = new NpgsqlCommand("SELECT order_id, status FROM orders WHERE order_id = ANY(@order_ids)", db, tx);
        read.Parameters.AddWithValue("order_ids", orderIds.ToArray());
        await using var reader = await read.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            outcomes[reader.GetString(0)] = reader.GetString(1) switch
            {
                "created" => Outcome.Created,
                "rejected" => Outcome.Rejected,
                var other => throw new InvalidDataException($"order {reader.GetString(0)} has no recorded outcome ({other})"),
            };
        foreach (var missing in orderIds.Where(id => !outcomes.ContainsKey(id)))
            throw new InvalidDataException($"order {missing} has no recorded outcome (no row)");
        return outcomes;
    }
}
