using Dtx.Harness.Checking;

namespace Dtx.Harness.Implementations;

/// <summary>
/// Where one implementation's run keeps its state: its databases (the broker's only for an implementation that has
/// one), its queue names, and where each of its services listens.
/// </summary>
public sealed record RunTarget(string InventoryDb, string OrdersDb, string Amqp, string QueuePrefix, string? BrokerDb = null)
{
    public IReadOnlyDictionary<string, Uri> Urls { get; init; } = new Dictionary<string, Uri>();
}

/// <summary>Where a step role lands in an implementation: which service process, and its failpoint there.</summary>
public sealed record StepBinding(string Service, string Failpoint);

/// <summary>
/// What the harness needs to know about a reference implementation to run it, fault it and judge it; the
/// protocol itself lives in implementations/. Everything here is observation from outside, never a shortcut in.
/// </summary>
public interface IImplementation
{
    /// <summary>local-table, half-message, dual-write: the names in result.json.</summary>
    string Name { get; }

    /// <summary>
    /// True for the naive baseline (dual-write), which exists to be seen failing: beside a reference implementation
    /// it must violate what its scenario expects, and any further violation is reported but not held against it.
    /// </summary>
    bool IsBaseline => false;

    /// <summary>
    /// For the baseline: the invariants it may break beyond what a scenario expects, by what it lacks (no outbox,
    /// no dedupe, no retry). Any other violation fails it even beside a reference: it cannot come from what the
    /// baseline lacks, so it would be a fault in the harness or the checker. Null for the references.
    /// </summary>
    IReadOnlyCollection<string>? BaselineMayBreak => null;

    /// <summary>
    /// For an implementation with no way to recover (no republish, no retry, no check-back): how long the in-doubt
    /// figures may stand still before the drain stops waiting, since nothing will ever move them. Null for the
    /// references, whose timers may need the whole drain deadline.
    /// </summary>
    TimeSpan? HopelessAfter => null;

    /// <summary>Service roles in start order; the first ones must be up before later ones send to them.</summary>
    IReadOnlyList<string> Services { get; }

    /// <summary>The service that takes <c>POST /orders</c>.</summary>
    string EntryService { get; }

    /// <summary>True when the implementation has a broker-side coordinator with a database of its own.</summary>
    bool HasBrokerDatabase { get; }

    /// <summary>The database a service writes to.</summary>
    string DatabaseOf(string service, RunTarget target);

    /// <summary>Settings a service needs beyond the common ones (database, broker, queues, timings of the outbox).</summary>
    IReadOnlyDictionary<string, string> ExtraSettings(string service, RunTarget target, Scenarios.ProtocolTiming timing);

    /// <summary>Null when this implementation has no such step (e.g. check-back in LocalTable): the fault is not applicable.</summary>
    StepBinding? Bind(string stepRole);

    /// <summary>What is still in doubt: unsent or unanswered messages, unresolved orders, queued messages.</summary>
    Task<InDoubt> ProbeAsync(RunTarget target, CancellationToken ct);

    /// <summary>What was absorbed rather than violated, for result.json's counts (duplicatesDelivered, republished …). Called while the services still run.</summary>
    Task<IReadOnlyDictionary<string, long>> CountAbsorbedAsync(RunTarget target, CancellationToken ct);

    /// <summary>
    /// The protocol's steps for these orders as this implementation's tables keep them (a publish, a delivery, a half
    /// message prepared and resolved), for the traces of a violation's orders. Read after the services stopped. By
    /// default the participant's applications, which every implementation shares (<see cref="BusinessProbe.ApplicationsAsync"/>).
    /// </summary>
    Task<IReadOnlyList<TraceStep>> TraceStepsAsync(RunTarget target, IReadOnlyCollection<string> orderIds, CancellationToken ct) =>
        BusinessProbe.ApplicationsAsync(target, orderIds, ct);
}
