using Dtx.Harness.Checking;
using Dtx.LocalTable;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Sql;

namespace Dtx.Harness.Implementations;

public sealed class LocalTableImplementation : IImplementation
{
    public string Name => LocalTableService.Name;

    public IReadOnlyList<string> Services { get; } = ["participant", "initiator"];

    public string EntryService => "initiator";

    public bool HasBrokerDatabase => false;

    public string DatabaseOf(string service, RunTarget target) => service == "participant" ? target.OrdersDb : target.InventoryDb;

    public IReadOnlyDictionary<string, string> ExtraSettings(string service, RunTarget target, Scenarios.ProtocolTiming timing) =>
        new Dictionary<string, string>();

    public StepBinding? Bind(string stepRole) => stepRole switch
    {
        Initiator.BeforeCommit or Initiator.AfterCommit or Initiator.AfterReply => new("initiator", stepRole),
        // The order message's relay runs inside the initiator; the participant's relay only carries replies.
        Relay.AfterPublish => new("initiator", stepRole),
        Participant.AfterCommit => new("participant", stepRole),
        // The participant replies through an outbox and relay of its own: the same relay code, in the participant's process.
        StepRoles.ReplyRelayAfterPublish => new("participant", Relay.AfterPublish),
        _ => null,
    };

    public async Task<InDoubt> ProbeAsync(RunTarget target, CancellationToken ct)
    {
        await using var inventory = Database.Open(target.InventoryDb, "harness-probe");
        await using var orders = Database.Open(target.OrdersDb, "harness-probe");
        var outboxRows = await Sql.ScalarAsync(inventory, "SELECT count(*) FROM outbox", ct)
                         + await Sql.ScalarAsync(orders, "SELECT count(*) FROM outbox", ct);
        var (pending, queued) = await BusinessProbe.PendingAndQueuedAsync(target, ct);
        return new InDoubt((int)outboxRows, queued, pending, 0);
    }

    public async Task<IReadOnlyDictionary<string, long>> CountAbsorbedAsync(RunTarget target, CancellationToken ct)
    {
        await using var inventory = Database.Open(target.InventoryDb, "harness-probe");
        await using var orders = Database.Open(target.OrdersDb, "harness-probe");
        const string republished = "SELECT count(*) - count(DISTINCT message_id) FROM publish_log";
        return new Dictionary<string, long>
        {
            ["duplicatesDelivered"] = await BusinessProbe.DuplicatesDeliveredAsync(target, ct),
            // Confirmed publishes of the same message beyond its first: orders by the initiator's relay, replies by the
            // participant's (half-message's dispatch log counts both kinds too).
            ["republished"] = await Sql.ScalarAsync(inventory, republished, ct) + await Sql.ScalarAsync(orders, republished, ct),
        };
    }

    /// <summary>
    /// The order message's life: its confirmed publishes (a second one is a republish after the reply timeout), the
    /// participant's inbox receiving it (and the duplicates it turned away), and an outbox row still waiting. The
    /// message id is the order's (<see cref="MessageIds.ForOrder"/>); a reply's is random and its row is gone once sent.
    /// </summary>
    public async Task<IReadOnlyList<TraceStep>> TraceStepsAsync(RunTarget target, IReadOnlyCollection<string> orderIds, CancellationToken ct)
    {
        var byMessage = orderIds.ToDictionary(MessageIds.ForOrder);
        var ids = byMessage.Keys.ToArray();
        var steps = new List<TraceStep>();
        await using var inventory = Database.Open(target.InventoryDb, "harness-probe");
        await using var orders = Database.Open(target.OrdersDb, "harness-probe");

        await using (var published = inventory.CreateCommand("""
            SELECT message_id, published_at, row_number() OVER (PARTITION BY message_id ORDER BY published_at)
            FROM publish_log WHERE message_id = ANY(@ids)
            """))
        {
            published.Parameters.AddWithValue("ids", ids);
            await using var reader = await published.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                steps.Add(new TraceStep(byMessage[reader.GetGuid(0)], reader.GetFieldValue<DateTimeOffset>(1), "initiator's relay",
                    reader.GetInt64(2) == 1 ? "published the order message (confirmed)" : $"republished the order message (publish {reader.GetInt64(2)}, confirmed)"));
        }
        await using (var waiting = inventory.CreateCommand("SELECT message_id, created_at, attempts, next_attempt_at FROM outbox WHERE message_id = ANY(@ids)"))
        {
            waiting.Parameters.AddWithValue("ids", ids);
            await using var reader = await waiting.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                steps.Add(new TraceStep(byMessage[reader.GetGuid(0)], reader.GetFieldValue<DateTimeOffset>(1), "initiator",
                    $"outbox row still there after the drain: {reader.GetInt32(2)} attempt(s), next due {reader.GetFieldValue<DateTimeOffset>(3):HH:mm:ss.fff}"));
        }
        await using (var received = orders.CreateCommand("SELECT message_id, received_at, duplicates, consumer FROM inbox WHERE message_id = ANY(@ids)"))
        {
            received.Parameters.AddWithValue("ids", ids);
            await using var reader = await received.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                steps.Add(new TraceStep(byMessage[reader.GetGuid(0)], reader.GetFieldValue<DateTimeOffset>(1), "participant",
                    $"inbox ({reader.GetString(3)}) received the order message{(reader.GetInt32(2) > 0 ? $"; {reader.GetInt32(2)} later duplicate(s) turned away" : "")}"));
        }
        return [.. steps, .. await BusinessProbe.ApplicationsAsync(target, orderIds, ct)];
    }
}
