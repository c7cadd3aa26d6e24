using Dtx.Harness.Checking;
using Dtx.Shared.Sql;
using Npgsql;

namespace Dtx.Harness.Engine;

/// <summary>
/// Reads what is really in the databases after the drain. It reads only the business tables that every
/// implementation shares, never an implementation's own bookkeeping, so the
/// verdict does not depend on the protocol telling the truth about itself.
/// </summary>
public static class GroundTruthReader
{
    /// <param name="knownOrderIds">The order ids the history holds: a row's order id becomes that same string, instead
    /// of two more copies of every id (one per database) for as long as the check runs.</param>
    public static async Task<GroundTruth> ReadAsync(string inventoryDb, string ordersDb, InDoubt inDoubt, bool drained, CancellationToken ct,
        IEnumerable<string>? knownOrderIds = null)
    {
        await using var inventory = Database.Open(inventoryDb, "harness-checker");
        await using var orders = Database.Open(ordersDb, "harness-checker");
        var names = new NamePool(knownOrderIds ?? []);
        return new GroundTruth(
            await ReadTotalsAsync(inventory, "SELECT sku, initial FROM stock_seed", ct),
            await ReadTotalsAsync(inventory, "SELECT sku, available FROM stock", ct),
            await ReadInitiatorOrdersAsync(inventory, names, ct),
            await ReadParticipantOrdersAsync(orders, names, ct),
            await ReadTotalsAsync(orders, "SELECT customer_id, total FROM customer_spend", ct),
            inDoubt,
            drained);
    }

    private static async Task<IReadOnlyDictionary<string, long>> ReadTotalsAsync(NpgsqlDataSource db, string sql, CancellationToken ct)
    {
        var result = new Dictionary<string, long>();
        await using var command = db.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) result[reader.GetString(0)] = reader.GetInt64(1);
        return result;
    }

    private static async Task<IReadOnlyList<InitiatorOrder>> ReadInitiatorOrdersAsync(NpgsqlDataSource db, NamePool names, CancellationToken ct)
    {
        var result = new List<InitiatorOrder>();
        await using var command = db.CreateCommand("""
            SELECT o.order_id, o.sku, o.qty, o.customer_id, o.status, o.created_at, o.resolved_at,
                   (SELECT count(*) FROM restocks r WHERE r.order_id = o.order_id)
            FROM inventory_orders o
            """);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            result.Add(new InitiatorOrder(
                names.Of(reader.GetString(0)), names.Of(reader.GetString(1)), reader.GetInt32(2), names.Of(reader.GetString(3)),
                reader.GetString(4) switch
                {
                    "pending" => InitiatorStatus.Pending,
                    "done" => InitiatorStatus.Done,
                    "compensated" => InitiatorStatus.Compensated,
                    var other => throw new InvalidDataException($"inventory_orders.status '{other}' is not a known status"),
                },
                reader.GetFieldValue<DateTimeOffset>(5),
                reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
                (int)reader.GetInt64(7)));
        }
        return result;
    }

    private static async Task<IReadOnlyList<ParticipantOrder>> ReadParticipantOrdersAsync(NpgsqlDataSource db, NamePool names, CancellationToken ct)
    {
        var result = new List<ParticipantOrder>();
        await using var command = db.CreateCommand("""
            SELECT o.order_id, o.sku, o.qty, o.customer_id, o.status, o.processed_at,
                   (SELECT count(*) FROM order_applications a WHERE a.order_id = o.order_id)
            FROM orders o
            """);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            result.Add(new ParticipantOrder(
                names.Of(reader.GetString(0)), names.Of(reader.GetString(1)), reader.GetInt32(2), names.Of(reader.GetString(3)),
                reader.GetString(4) == "created" ? ParticipantStatus.Created : ParticipantStatus.Rejected,
                reader.GetFieldValue<DateTimeOffset>(5),
                (int)reader.GetInt64(6)));
        }
        return result;
    }

    /// <summary>
    /// One string per sku, customer or order id across the rows and the history: a run reads every order of each
    /// database, and a string per row for the few dozen skus and thousand customers cost a 600,000-order run about
    /// 100 MB while it was checked; each order id read again is two more strings an order.
    /// </summary>
    private sealed class NamePool
    {
        private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);

        public NamePool(IEnumerable<string> known)
        {
            foreach (var name in known) _names.TryAdd(name, name);
        }

        public string Of(string name)
        {
            if (_names.TryGetValue(name, out var shared)) return shared;
            return _names[name] = name;
        }
    }
}
