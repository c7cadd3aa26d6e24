using Dtx.Harness.Implementations;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Scenarios;
using Dtx.Harness.Services;

namespace Dtx.Harness.Engine;

/// <summary>
/// Injects a scenario's faults on schedule (Jepsen's nemesis): crashes at protocol steps, crashes of PostgreSQL or
/// RabbitMQ, pauses of a service. A fault that cannot apply to this implementation or these servers — a step it does
/// not have, a service it does not run, a server the harness did not start — is recorded as not applicable, so it
/// can never count as a pass.
/// </summary>
public sealed class Nemesis(IImplementation implementation, Supervisor supervisor, RunClock clock, PostgresServer postgres, RabbitMqServer rabbit, Links links)
{
    private static readonly TimeSpan TriggerPatience = TimeSpan.FromSeconds(10);

    /// <summary>Runs every fault plan concurrently; returns the records of faults that could not apply.</summary>
    public async Task<IReadOnlyList<FaultRecord>> RunAsync(IReadOnlyList<FaultPlan> plans, CancellationToken ct)
    {
        var skipped = new List<FaultRecord>();
        var running = new List<Task>();
        foreach (var plan in plans)
        {
            if (NotApplicable(plan) is { } reason)
                skipped.AddRange(plan.At.Select(at => new FaultRecord(plan.Kind, plan.Target ?? "-", plan.Step, at.TotalSeconds, at.TotalSeconds, "not applicable: " + reason, FaultOutcome.NotApplicable)));
            else
                running.Add(RunPlanAsync(plan, ct));
        }
        await Task.WhenAll(running);
        return skipped;
    }

    private string? NotApplicable(FaultPlan plan) => plan switch
    {
        { Step: { } step } when implementation.Bind(step) is null => $"{implementation.Name} has no step {step}",
        { IsServerCrash: true, Target: "postgres" } when !postgres.IsEmbedded => "PostgreSQL is external; the harness crashes only servers it started",
        { IsServerCrash: true, Target: "rabbitmq" } when !rabbit.IsEmbedded => "RabbitMQ is external; the harness crashes only servers it started",
        { Kind: "pause", Target: { } target } when !supervisor.Has(target) => $"{implementation.Name} has no service {target}",
        { IsNetwork: true } when !plan.Links.Any(links.Has) => $"{implementation.Name} has no link {string.Join(", ", plan.Links)}",
        _ => null,
    };

    private async Task RunPlanAsync(FaultPlan plan, CancellationToken ct)
    {
        foreach (var at in plan.At)
        {
            var wait = at - clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
            if (plan.Step is { } step)
            {
                var binding = implementation.Bind(step)!;
                await supervisor.CrashAtAsync(binding.Service, binding.Failpoint, plan.Action!.ToString(), step, plan.RestartAfter, TriggerPatience, ct);
            }
            else if (plan.IsServerCrash)
            {
                await CrashServerAsync(plan.Target!, plan.RestartAfter, ct);
            }
            else if (plan.IsNetwork)
            {
                // Links the implementation lacks (latency on txbroker-rabbitmq for local-table) are left out; the rest go together.
                await Task.WhenAll(plan.Links.Where(links.Has).Select(link => FaultLinkAsync(plan, link, ct)));
            }
            else
            {
                await supervisor.PauseAsync(plan.Target!, plan.Duration, ct);
            }
        }
    }

    /// <summary>One link, faulted for the plan's duration through the Toxiproxy API, then healed.</summary>
    private async Task FaultLinkAsync(FaultPlan plan, string link, CancellationToken ct)
    {
        var at = clock.Seconds;
        Func<Task> heal = plan.Kind switch
        {
            "partition" => await CutAsync(link, ct),
            "latency" => await links.PoisonAsync(link, "latency",
                new { latency = (long)plan.Latency.TotalMilliseconds, jitter = (long)plan.Jitter.TotalMilliseconds }, ct),
            _ => await links.PoisonAsync(link, "reset_peer", new { timeout = 0 }, ct),
        };
        try
        {
            await Task.Delay(plan.Duration, ct);
        }
        finally
        {
            await heal();
        }
        supervisor.Record(new FaultRecord(plan.Kind, link, null, at, clock.Seconds));
    }

    private async Task<Func<Task>> CutAsync(string link, CancellationToken ct)
    {
        await links.CutAsync(link, ct);
        return () => links.HealAsync(link, CancellationToken.None);
    }

    /// <summary>Kills the server (SIGKILL for RabbitMQ, an immediate stop for PostgreSQL), waits, and restarts it on the same data and port.</summary>
    private async Task CrashServerAsync(string target, TimeSpan downtime, CancellationToken ct)
    {
        var at = clock.Seconds;
        if (target == "postgres") await postgres.CrashAsync(ct);
        else await rabbit.CrashAsync(ct);
        await Task.Delay(downtime, ct);
        if (target == "postgres") await postgres.RestartAsync(ct);
        else await rabbit.RestartAsync(ct);
        supervisor.Record(new FaultRecord("crash", target, null, at, clock.Seconds));
    }
}
