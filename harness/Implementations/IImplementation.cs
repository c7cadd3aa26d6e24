using Dtx.Harness.Checking;

namespace Dtx.Harness.Implementations;

/// <summary>Where one implementation's run keeps its state: its two databases and its queue names.</summary>
public sealed record RunTarget(string InventoryDb, string OrdersDb, string Amqp, string QueuePrefix);

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

    /// <summary>Service roles in start order; the first ones must be up before later ones send to them.</summary>
    IReadOnlyList<string> Services { get; }

    /// <summary>The service that takes <c>POST /orders</c>.</summary>
    string EntryService { get; }

    /// <summary>The database a service writes to.</summary>
    string DatabaseOf(string service, RunTarget target);

    /// <summary>Null when this implementation has no such step (e.g. check-back in LocalTable): the fault is not applicable.</summary>
    StepBinding? Bind(string stepRole);

    /// <summary>What is still in doubt: unsent or unanswered messages, unresolved orders, queued messages.</summary>
    Task<InDoubt> ProbeAsync(RunTarget target, CancellationToken ct);

    /// <summary>What was absorbed rather than violated, for result.json's counts (duplicatesDelivered, republished …).</summary>
    Task<IReadOnlyDictionary<string, long>> CountAbsorbedAsync(RunTarget target, CancellationToken ct);
}
