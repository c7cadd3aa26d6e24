using Dtx.DualWrite;
using Dtx.Harness.Checking;
using Dtx.Shared.Failpoints;

namespace Dtx.Harness.Implementations;

/// <summary>
/// The naive baseline: commit, then publish. It has no relay, no txbroker and no check-back, so only the steps of
/// its two services can be faulted; it is expected to break invariants, and each scenario says which.
/// </summary>
public sealed class DualWriteImplementation : IImplementation
{
    public string Name => DualWriteService.Name;

    public bool IsBaseline => true;

    // A lost order, a double application, a lost reply (a rejection never compensated) all come from what it lacks.
    // It publishes only after its commit, and stock moves only through the shared business code, so a phantom order
    // or stock that does not add up cannot: the checker must never see it break those.
    public IReadOnlyCollection<string>? BaselineMayBreak { get; } =
        [Checker.NoLostOrder, Checker.ExactlyOnceEffect, Checker.CompensatedExactlyOnce, Checker.AcknowledgedDurable, Checker.FailedAbsent, Checker.Converged];

    // Nothing in it retries: once its queues are empty and its in-doubt figures stop moving, they stay.
    public TimeSpan? HopelessAfter => TimeSpan.FromSeconds(5);

    public IReadOnlyList<string> Services { get; } = ["participant", "initiator"];

    public string EntryService => "initiator";

    public bool HasBrokerDatabase => false;

    public string DatabaseOf(string service, RunTarget target) => service == "participant" ? target.OrdersDb : target.InventoryDb;

    public IReadOnlyDictionary<string, string> ExtraSettings(string service, RunTarget target, Scenarios.ProtocolTiming timing) =>
        new Dictionary<string, string>();

    public StepBinding? Bind(string stepRole) => stepRole switch
    {
        StepRoles.InitiatorBeforeCommit or StepRoles.InitiatorAfterCommit or StepRoles.InitiatorAfterReply => new("initiator", stepRole),
        StepRoles.ParticipantAfterCommit => new("participant", stepRole),
        _ => null,
    };

    public async Task<InDoubt> ProbeAsync(RunTarget target, CancellationToken ct)
    {
        var (pending, queued) = await BusinessProbe.PendingAndQueuedAsync(target, ct);
        return new InDoubt(0, queued, pending, 0);
    }

    /// <summary>Nothing is absorbed: a duplicate is applied again, and shows up as a violation instead.</summary>
    public Task<IReadOnlyDictionary<string, long>> CountAbsorbedAsync(RunTarget target, CancellationToken ct) =>
        Task.FromResult<IReadOnlyDictionary<string, long>>(new Dictionary<string, long>());
}
