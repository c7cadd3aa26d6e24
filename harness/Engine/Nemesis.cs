using Dtx.Harness.Implementations;
using Dtx.Harness.Scenarios;
using Dtx.Harness.Services;

namespace Dtx.Harness.Engine;

/// <summary>
/// Injects a scenario's faults on schedule (Jepsen's nemesis). A fault names a step role; the implementation
/// decides which of its processes and failpoints that is. A step it does not have is recorded as not applicable.
/// </summary>
public sealed class Nemesis(IImplementation implementation, Supervisor supervisor, RunClock clock)
{
    private static readonly TimeSpan TriggerPatience = TimeSpan.FromSeconds(10);

    /// <summary>Runs every fault plan concurrently; returns the records of faults that could not apply.</summary>
    public async Task<IReadOnlyList<FaultRecord>> RunAsync(IReadOnlyList<FaultPlan> plans, CancellationToken ct)
    {
        var skipped = new List<FaultRecord>();
        var running = new List<Task>();
        foreach (var plan in plans)
        {
            if (plan.Step is null) continue;
            if (implementation.Bind(plan.Step) is not { } binding)
            {
                skipped.AddRange(plan.At.Select(at => new FaultRecord(plan.Kind, "-", plan.Step, at.TotalSeconds, at.TotalSeconds, $"not applicable: {implementation.Name} has no step {plan.Step}")));
                continue;
            }
            running.Add(RunPlanAsync(plan, binding, ct));
        }
        await Task.WhenAll(running);
        return skipped;
    }

    private async Task RunPlanAsync(FaultPlan plan, StepBinding binding, CancellationToken ct)
    {
        foreach (var at in plan.At)
        {
            var wait = at - clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
            await supervisor.CrashAtAsync(binding.Service, binding.Failpoint, plan.Action.ToString(), plan.Step!, plan.RestartAfter, TriggerPatience, ct);
        }
    }
}
