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
}
