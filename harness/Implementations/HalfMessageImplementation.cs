using System.Globalization;
using Dtx.Harness.Checking;
using Dtx.Harness.Scenarios;
using Dtx.HalfMessage;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Messaging;
using Dtx.Shared.Sql;

namespace Dtx.Harness.Implementations;

public sealed class HalfMessageImplementation : IImplementation
{
    public string Name => HalfMessageService.Name;

    // All three start together; txbroker only needs to be up before the first order, which the load waits for.
    public IReadOnlyList<string> Services { get; } = ["txbroker", "participant", "initiator"];

    public string EntryService => "initiator";

    public bool HasBrokerDatabase => true;

    public string DatabaseOf(string service, RunTarget target) => service switch
    {
        "txbroker" => target.BrokerDb ?? throw new InvalidOperationException("half-message needs a txbroker database"),
        "participant" => target.OrdersDb,
        _ => target.InventoryDb,
    };

    public IReadOnlyDictionary<string, string> ExtraSettings(string service, RunTarget target, ProtocolTiming timing) => service == "txbroker"
        ? new Dictionary<string, string>
        {
            ["tx-timeout"] = FailpointSpec.FormatDuration(timing.TxTimeout),
            ["check-interval"] = FailpointSpec.FormatDuration(timing.CheckInterval),
            ["max-checks"] = timing.MaxChecks.ToString(CultureInfo.InvariantCulture),
            ["lease"] = FailpointSpec.FormatDuration(timing.Lease),
            ["poll-interval"] = FailpointSpec.FormatDuration(timing.PollInterval),
        }
        : new Dictionary<string, string> { ["txbroker"] = target.Urls["txbroker"].ToString() };

    public StepBinding? Bind(string stepRole) => stepRole switch
    {
        Initiator.AfterPrepare or Initiator.BeforeCommit or Initiator.AfterCommit or Initiator.AfterReply or CheckBack.BeforeAnswer
            => new("initiator", stepRole),
        // txbroker stores the half and dispatches committed messages: its dispatcher is this protocol's relay.
        TxBroker.AfterPersist or Dispatcher.AfterPublish => new("txbroker", stepRole),
        Participant.AfterCommit => new("participant", stepRole),
        _ => null,
    };

    public async Task<InDoubt> ProbeAsync(RunTarget target, CancellationToken ct)
    {
        await using var broker = Database.Open(DatabaseOf("txbroker", target), "harness-probe");
        // A half message in doubt: still prepared, committed but not yet dispatched, or parked for an operator.
        var halves = await Sql.ScalarAsync(broker, """
            SELECT count(*) FROM half_messages
            WHERE state IN ('prepared', 'needs-attention') OR (state = 'committed' AND dispatched_at IS NULL)
            """, ct);
        var (pending, queued) = await BusinessProbe.PendingAndQueuedAsync(target, ct);
        return new InDoubt(0, queued, pending, (int)halves);
    }

    public async Task<IReadOnlyDictionary<string, long>> CountAbsorbedAsync(RunTarget target, CancellationToken ct)
    {
        await using var broker = Database.Open(DatabaseOf("txbroker", target), "harness-probe");
        await using var inventory = Database.Open(target.InventoryDb, "harness-probe");
        await using var orders = Database.Open(target.OrdersDb, "harness-probe");
        const string fenced = "SELECT count(*) FROM tx_log WHERE state = 'rolled-back' AND order_id IS NULL";
        return new Dictionary<string, long>
        {
            // Rows a check-back wrote because it found no local transaction: each one fenced a transaction id. Apart
            // for the two producers: the initiator's order halves, and the participant's reply halves.
            ["fencedByCheckBack"] = await Sql.ScalarAsync(inventory, fenced, ct),
            ["repliesFencedByCheckBack"] = await Sql.ScalarAsync(orders, fenced, ct),
            ["duplicatesDelivered"] = await BusinessProbe.DuplicatesDeliveredAsync(target, ct),
            ["republished"] = await Sql.ScalarAsync(broker, "SELECT count(*) - count(DISTINCT tx_id) FROM dispatch_log", ct),
            ["checkBacksSent"] = await Sql.ScalarAsync(broker, "SELECT coalesce(sum(checks_sent), 0) FROM half_messages", ct),
            ["checkBacksAnswered"] = await Sql.ScalarAsync(broker, "SELECT coalesce(sum(checks_answered), 0) FROM half_messages", ct),
            ["unexpectedCheckBacks"] = await Sql.ScalarAsync(broker, "SELECT coalesce(sum(unexpected_checks), 0) FROM half_messages", ct),
            ["parked"] = await Sql.ScalarAsync(broker, "SELECT count(*) FROM half_messages WHERE times_parked > 0", ct),
        };
    }

    /// <summary>
    /// The order's transactions as txbroker and the producers keep them: each half message (the order's, and the
    /// participant's reply) prepared, resolved (by whom) with its check-backs, and dispatched (a second publish is a
    /// redispatch); each producer's local transaction record in its tx_log.
    /// </summary>
    public async Task<IReadOnlyList<TraceStep>> TraceStepsAsync(RunTarget target, IReadOnlyCollection<string> orderIds, CancellationToken ct)
    {
        var ids = orderIds.ToArray();
        var steps = new List<TraceStep>();
        var queues = QueueNames.For(target.QueuePrefix);
        await using var broker = Database.Open(DatabaseOf("txbroker", target), "harness-probe");
        await using (var halves = broker.CreateCommand("""
            SELECT payload->>'orderId', tx_id, queue, state, prepared_at, resolved_at, resolved_by, checks_sent, checks_answered
            FROM half_messages WHERE payload->>'orderId' = ANY(@ids)
            """))
        {
            halves.Parameters.AddWithValue("ids", ids);
            await using var reader = await halves.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var (orderId, txId, kind) = (reader.GetString(0), reader.GetString(1), reader.GetString(2) == queues.Replies ? "reply" : "order");
                steps.Add(new TraceStep(orderId, reader.GetFieldValue<DateTimeOffset>(4), "txbroker", $"{kind} half message {txId} prepared"));
                var checks = reader.GetInt32(7) == 0 ? "" : $" after {reader.GetInt32(7)} check-back(s) sent, {reader.GetInt32(8)} answered";
                steps.Add(reader.IsDBNull(5)
                    ? new TraceStep(orderId, reader.GetFieldValue<DateTimeOffset>(4), "txbroker", $"{kind} half message {txId} still {reader.GetString(3)} after the drain{checks}")
                    : new TraceStep(orderId, reader.GetFieldValue<DateTimeOffset>(5), "txbroker",
                        $"{kind} half message {txId} {reader.GetString(3)} by {(reader.IsDBNull(6) ? "?" : reader.GetString(6))}{checks}"));
            }
        }
        await using (var dispatched = broker.CreateCommand("""
            SELECT h.payload->>'orderId', d.tx_id, h.queue, d.published_at, row_number() OVER (PARTITION BY d.tx_id ORDER BY d.published_at)
            FROM dispatch_log d JOIN half_messages h USING (tx_id) WHERE h.payload->>'orderId' = ANY(@ids)
            """))
        {
            dispatched.Parameters.AddWithValue("ids", ids);
            await using var reader = await dispatched.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                steps.Add(new TraceStep(reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(3), "txbroker",
                    $"{(reader.GetString(2) == queues.Replies ? "reply" : "order")} message of {reader.GetString(1)} {(reader.GetInt64(4) == 1 ? "dispatched" : $"dispatched again (publish {reader.GetInt64(4)})")} (confirmed)"));
        }
        foreach (var (producer, database) in new[] { ("initiator", target.InventoryDb), ("participant", target.OrdersDb) })
        {
            await using var db = Database.Open(database, "harness-probe");
            await using var logged = db.CreateCommand("SELECT order_id, tx_id, state, recorded_at FROM tx_log WHERE order_id = ANY(@ids)");
            logged.Parameters.AddWithValue("ids", ids);
            await using var reader = await logged.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                steps.Add(new TraceStep(reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(3), producer,
                    $"tx_log: local transaction of {reader.GetString(1)} {reader.GetString(2)}"));
        }
        return [.. steps, .. await BusinessProbe.ApplicationsAsync(target, orderIds, ct)];
    }
}
