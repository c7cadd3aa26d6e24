using System.Net;
using System.Text.Json;
using Dtx.Harness.Engine;
using Dtx.Harness.Implementations;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Services;
using Dtx.Shared.Failpoints;

namespace Dtx.Harness.Faults;

/// <summary>A poison message the nemesis published: its message id, and the order id its body claims.</summary>
public sealed record SentPoison(string MessageId, string OrderId);

/// <summary>
/// Injects a scenario's faults on schedule (Jepsen's nemesis) and writes what came of each into the fault log: a
/// typed outcome per window. A fault that cannot apply to this implementation or these servers is not applicable; one
/// that was armed and never fired is not triggered. Neither can count as a pass. What happened is judged from
/// evidence the system leaves — a process's own <c>FAILPOINT CRASH</c> line, a failpoint's fired count — never from
/// what became of the request that armed it. Without <c>links</c> (a run with no proxies) a link fault is not applicable.
/// </summary>
public sealed class Nemesis(IImplementation implementation, RunTarget target, Supervisor supervisor, RunClock clock, PostgresServer postgres,
    RabbitMqServer rabbit, Links? links, FaultLog log, TimeSpan loadDuration, Action<string> say)
{
    // A crash armed at a step waits for traffic to reach it at least this long, and otherwise until the load is over.
    private static readonly TimeSpan MinTriggerPatience = TimeSpan.FromSeconds(10);
    // Once a failed control call or a 404 says the failpoint fired, the death must be seen within this.
    private static readonly TimeSpan DeathPatience = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RestartPatience = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan FiredPoll = TimeSpan.FromMilliseconds(200);

    public FaultLog Log => log;

    // Faults that kill a service wait for each other: a death must be judged against the one fault that caused it.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, SemaphoreSlim> _deathLocks = new();

    // A service killed again must first have served this long since its restart. On a slow machine a restart takes up
    // to four seconds, and a crash armed the moment the successor answers (a reply backlog reaches initiator.after-reply
    // at once) killed it before it served a request: the load stalled between crashes that proved nothing new.
    public static readonly TimeSpan MinServedBetweenDeaths = TimeSpan.FromSeconds(2);

    // The postponement ends a second before the load does at the latest: a crash at a step armed after the load has
    // no traffic to meet, and its "not triggered" would blame the system for the harness's wait.
    private static readonly TimeSpan LatestBeforeLoadEnd = TimeSpan.FromSeconds(1);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, double> _backAt = new();

    private async Task<FaultRecord> OneDeathAtATimeAsync(string service, Func<Task<FaultRecord>> inject, CancellationToken ct)
    {
        var gate = _deathLocks.GetOrAdd(service, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            // Back from its last planned death, or from an exit nobody planned (the supervisor restarted it).
            var backs = log.All.Where(f => f.Outcome == FaultOutcome.UnexpectedExit && f.Target == service).Select(f => f.EndSeconds).OfType<double>().ToList();
            if (_backAt.TryGetValue(service, out var planned)) backs.Add(planned);
            if (backs.Count > 0)
            {
                var back = backs.Max();
                var until = TimeSpan.FromSeconds(back) + MinServedBetweenDeaths;
                if (until > loadDuration - LatestBeforeLoadEnd) until = loadDuration - LatestBeforeLoadEnd;
                var wait = until - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    say($"{service} back at {back:0.0}s: its next death waits {wait.TotalSeconds:0.0}s so that it serves first");
                    await Task.Delay(wait, ct);
                }
            }
            var record = await inject();
            if (record.Outcome is FaultOutcome.Injected && record.EndSeconds is { } end) _backAt[service] = end;
            return record;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Runs every fault plan concurrently, each at its times, and records every window.</summary>
    public async Task RunAsync(IReadOnlyList<FaultPlan> plans, CancellationToken ct)
    {
        var running = new List<Task>();
        foreach (var plan in plans)
        {
            if (WhyNotApplicable(plan, implementation, postgres.IsEmbedded, rabbit.IsEmbedded, links is not null) is { } reason)
                foreach (var at in plan.At)
                    log.Record(new FaultRecord(plan.Kind, plan.Target, plan.Step, at.TotalSeconds, at.TotalSeconds, "not applicable: " + reason, FaultOutcome.NotApplicable));
            else
                running.Add(RunPlanAsync(plan, ct));
        }
        await Task.WhenAll(running);
    }

    /// <summary>Heals what is left: disarms every failpoint and waits until every service answers.</summary>
    public async Task HealAsync(CancellationToken ct)
    {
        foreach (var service in supervisor.Roles)
        {
            // A failpoint armed with a repeating trigger can kill the process between its health answer and the
            // disarming call; the restarted process has nothing armed, but it must answer before we go on.
            for (var attempt = 1; ; attempt++)
            {
                await supervisor.WaitHealthyAsync(service, ct);
                var cleared = await supervisor.ControlAsync(service, HttpMethod.Delete, "/failpoints", null, ct);
                if (cleared.Answered || attempt == 3) break;
            }
        }
    }

    /// <summary>
    /// Why a fault cannot apply to an implementation on these servers (a step, service or link it lacks; a server the
    /// harness did not start), or null when it can. Known before anything is deployed.
    /// </summary>
    public static string? WhyNotApplicable(FaultPlan plan, IImplementation implementation, bool postgresEmbedded, bool rabbitEmbedded, bool proxied) => plan switch
    {
        StepFault step when implementation.Bind(step.Role) is null => $"{implementation.Name} has no step {step.Role}",
        ServiceCrash crash when !implementation.Services.Contains(crash.Service) => $"{implementation.Name} has no service {crash.Service}",
        ServicePause pause when !implementation.Services.Contains(pause.Service) => $"{implementation.Name} has no service {pause.Service}",
        ServerCrash { Server: Server.Postgres } when !postgresEmbedded => "PostgreSQL is external; the harness crashes only servers it started",
        ServerCrash { Server: Server.Rabbitmq } when !rabbitEmbedded => "RabbitMQ is external; the harness crashes only servers it started",
        LinkFault when !proxied => "this run has no proxies on its links",
        LinkFault link when !link.Links.Intersect(Links.NamesFor(implementation)).Any() => $"{implementation.Name} has no link {string.Join(", ", link.Links)}",
        _ => null,
    };

    private async Task RunPlanAsync(FaultPlan plan, CancellationToken ct)
    {
        foreach (var at in plan.At)
        {
            var wait = at - clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
            switch (plan)
            {
                case StepFault { Action.Action: FailpointAction.Crash } step:
                    var binding = implementation.Bind(step.Role)!;
                    log.Record(await OneDeathAtATimeAsync(binding.Service, () => CrashAtStepAsync(step, binding, ct), ct));
                    break;
                case StepFault step:
                    log.Record(await ArmStepAsync(step, implementation.Bind(step.Role)!, ct));
                    break;
                case ServiceCrash crash:
                    log.Record(await OneDeathAtATimeAsync(crash.Service, () => KillServiceAsync(crash, ct), ct));
                    break;
                case ServerCrash crash:
                    log.Record(await CrashServerAsync(crash, ct));
                    break;
                case ServicePause pause:
                    log.Record(await PauseAsync(pause, ct));
                    break;
                case MessageLoss loss:
                    log.Record(await LoseMessagesAsync(loss, ct));
                    break;
                case PoisonMessage poison:
                    log.Record(await PoisonAsync(poison, ct));
                    break;
                case LinkFault link:
                    // Links the implementation lacks (txbroker-rabbitmq for local-table) are left out; the rest go together.
                    foreach (var record in await Task.WhenAll(link.Links.Where(links!.Has).Select(name => FaultLinkAsync(link, name, ct))))
                        log.Record(record);
                    break;
            }
        }
    }

    /// <summary>
    /// Arms a crash at the step and waits for the process to die there. Under load the step can fire within
    /// microseconds of the arming, before the arming call's answer is read; so the call's fate decides nothing, the
    /// dead process's last words do.
    /// </summary>
    private async Task<FaultRecord> CrashAtStepAsync(StepFault plan, StepBinding step, CancellationToken ct)
    {
        await supervisor.WaitHealthyAsync(step.Service, ct);
        var armedAt = clock.Seconds;
        var death = supervisor.ExpectDeath(step.Service, plan.RestartAfter);
        var armed = await supervisor.ControlAsync(step.Service, HttpMethod.Put, $"/failpoints/{step.Failpoint}", plan.Action.ToString(), ct);
        if (armed.Answered && !armed.Succeeded)
        {
            supervisor.Cancel(step.Service, death);
            throw new InvalidOperationException($"{step.Service} refused to arm {step.Failpoint}: {(int)armed.Status!} {armed.Body}");
        }
        var patience = TriggerPatience();
        if (armed.Answered && await Task.WhenAny(death.Died, Task.Delay(patience, ct)) != death.Died)
        {
            // Not reached in time: disarm. The step may still fire while the disarming call is on its way, so only the
            // armed process answering that it removed the failpoint proves it never fired.
            var disarmed = await supervisor.ControlAsync(step.Service, HttpMethod.Delete, $"/failpoints/{step.Failpoint}", null, ct);
            if (disarmed.Status == HttpStatusCode.NoContent && supervisor.Cancel(step.Service, death))
                return new FaultRecord(plan.Kind, step.Service, plan.Role, armedAt, clock.Seconds,
                    $"not triggered: no request reached {plan.Role} within {patience.TotalSeconds:0}s of arming {plan.Action}", FaultOutcome.NotTriggered);
        }
        Death died;
        try
        {
            died = await death.Died.WaitAsync(DeathPatience, ct);
        }
        catch (TimeoutException)
        {
            supervisor.Cancel(step.Service, death);
            return new FaultRecord(plan.Kind, step.Service, plan.Role, armedAt, clock.Seconds,
                $"not triggered: {step.Failpoint} was gone but {step.Service} did not die", FaultOutcome.NotTriggered);
        }
        var restartedAt = await RestartedAsync(death, ct);
        if (!died.LastWords.Split('\n').Any(line => line.TrimEnd().EndsWith($"FAILPOINT CRASH {step.Failpoint}", StringComparison.Ordinal)))
        {
            // It died of something else first: that is an exit nobody planned, and the planned crash never came.
            log.Record(new FaultRecord(FaultKind.Crash, step.Service, null, died.AtSeconds, restartedAt, $"unexpected exit (code {died.ExitCode}) while {plan.Role} was armed", FaultOutcome.UnexpectedExit));
            return new FaultRecord(plan.Kind, step.Service, plan.Role, armedAt, clock.Seconds,
                "not triggered: the process died of something else before the step was reached", FaultOutcome.NotTriggered);
        }
        say($"{step.Service} crashed at {plan.Role} at {died.AtSeconds:0.0}s");
        return Restarted(new FaultRecord(plan.Kind, step.Service, plan.Role, died.AtSeconds, restartedAt), restartedAt);
    }

    /// <summary>
    /// Arms a delay, error or pause at the step for the plan's window (a once or nth trigger ends it when it fires),
    /// then disarms it. The window holds across restarts: a process that dies meanwhile (another fault's crash) takes
    /// its failpoints with it, so its successor is armed again. The fired counts are the evidence: zero means not
    /// triggered.
    /// </summary>
    private async Task<FaultRecord> ArmStepAsync(StepFault plan, StepBinding step, CancellationToken ct)
    {
        var armedAt = clock.Seconds;
        var until = clock.Elapsed + plan.ArmedFor;
        long fired = 0;
        var processes = 0;
        while (clock.Elapsed < until && !(plan.Action.FiresOnce && fired > 0))
        {
            await supervisor.WaitHealthyAsync(step.Service, ct);
            if (await FiredAsync(step, ct) is not ({ } before, var launch))
            {
                await Task.Delay(FiredPoll, ct); // died before it could be armed: wait for its successor
                continue;
            }
            var armed = await supervisor.ControlAsync(step.Service, HttpMethod.Put, $"/failpoints/{step.Failpoint}", plan.Action.ToString(), ct);
            if (armed.Answered && !armed.Succeeded)
                throw new InvalidOperationException($"{step.Service} refused to arm {step.Failpoint}: {(int)armed.Status!} {armed.Body}");
            processes++;
            long here = 0;
            // Polled only while the process that was armed answers: its successor has its own counts and nothing armed.
            var alive = armed.Answered && armed.Launch == launch;
            while (alive && clock.Elapsed < until && !(plan.Action.FiresOnce && fired + here > 0))
            {
                await Task.Delay(FiredPoll, ct);
                if (await FiredAsync(step, ct) is ({ } now, var answered) && answered == launch) here = now - before;
                else alive = false;
            }
            if (alive)
            {
                await supervisor.ControlAsync(step.Service, HttpMethod.Delete, $"/failpoints/{step.Failpoint}", null, ct);
                if (await FiredAsync(step, ct) is ({ } last, var answered) && answered == launch) here = last - before;
            }
            fired += here;
        }
        // A delay or pause that fired just before the disarm still holds its request that long.
        var end = clock.Seconds + (fired > 0 && plan.Action.Action is FailpointAction.Delay or FailpointAction.Pause ? plan.Action.Duration.TotalSeconds : 0);
        var across = processes > 1 ? $" across {processes} processes" : "";
        return fired > 0
            ? new FaultRecord(plan.Kind, step.Service, plan.Role, armedAt, end, $"{plan.Action} fired {fired} time(s){across}")
            : new FaultRecord(plan.Kind, step.Service, plan.Role, armedAt, end, $"not triggered: {plan.Action} never fired while armed{across}", FaultOutcome.NotTriggered);
    }

    /// <summary>The failpoint's fired count and which process answered, or a null count when that process died.</summary>
    private async Task<(long? Fired, int Launch)> FiredAsync(StepBinding step, CancellationToken ct)
    {
        var reply = await supervisor.ControlAsync(step.Service, HttpMethod.Get, "/failpoints", null, ct);
        if (!reply.Succeeded) return (null, reply.Launch);
        using var json = JsonDocument.Parse(reply.Body);
        return (json.RootElement.GetProperty(step.Failpoint).GetProperty("fired").GetInt64(), reply.Launch);
    }

    /// <summary>SIGKILL to a service's processes wherever they are, then the restart.</summary>
    private async Task<FaultRecord> KillServiceAsync(ServiceCrash plan, CancellationToken ct)
    {
        await supervisor.WaitHealthyAsync(plan.Service, ct);
        var at = clock.Seconds;
        var death = supervisor.ExpectDeath(plan.Service, plan.RestartAfter);
        Death died;
        try
        {
            if (!supervisor.Signal(plan.Service, Signals.SIGKILL)) throw new TimeoutException();
            died = await death.Died.WaitAsync(DeathPatience, ct);
        }
        catch (TimeoutException)
        {
            supervisor.Cancel(plan.Service, death);
            return new FaultRecord(FaultKind.Crash, plan.Service, null, at, clock.Seconds, "not triggered: no running process took the SIGKILL", FaultOutcome.NotTriggered);
        }
        var restartedAt = await RestartedAsync(death, ct);
        // 128 + 9: it was our SIGKILL that ended it, not something of its own just before.
        if (died.ExitCode != 128 + Signals.SIGKILL)
        {
            log.Record(new FaultRecord(FaultKind.Crash, plan.Service, null, died.AtSeconds, restartedAt, $"unexpected exit (code {died.ExitCode}) just before a planned kill", FaultOutcome.UnexpectedExit));
            return new FaultRecord(FaultKind.Crash, plan.Service, null, at, clock.Seconds, "not triggered: the process died of something else first", FaultOutcome.NotTriggered);
        }
        say($"{plan.Service} killed at {died.AtSeconds:0.0}s");
        return Restarted(new FaultRecord(FaultKind.Crash, plan.Service, null, died.AtSeconds, restartedAt), restartedAt);
    }

    /// <summary>When the successor answered, or null when it did not come back.</summary>
    private static async Task<double?> RestartedAsync(ExpectedDeath death, CancellationToken ct)
    {
        try
        {
            return await death.Restarted.WaitAsync(death.RestartAfter + RestartPatience, ct);
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            return null;
        }
    }

    private static FaultRecord Restarted(FaultRecord injected, double? restartedAt) => restartedAt is null
        ? injected with { Note = "restart failed: the process did not come back", Outcome = FaultOutcome.RestartFailed }
        : injected;

    /// <summary>
    /// Stops the service's processes with SIGSTOP and lets them go on with SIGCONT after the duration: a stall like a
    /// long GC pause or a stuck host. Sockets stay open; peers see silence, not a closed connection.
    /// </summary>
    private async Task<FaultRecord> PauseAsync(ServicePause plan, CancellationToken ct)
    {
        await supervisor.WaitHealthyAsync(plan.Service, ct);
        var at = clock.Seconds;
        if (!supervisor.Signal(plan.Service, Signals.SIGSTOP))
            return new FaultRecord(FaultKind.Pause, plan.Service, null, at, at, "not triggered: no running process to stop", FaultOutcome.NotTriggered);
        try
        {
            await Task.Delay(plan.Duration, ct);
        }
        finally
        {
            // Even when the run is cancelled: a stopped process ignores SIGTERM until it is continued.
            supervisor.Signal(plan.Service, Signals.SIGCONT);
        }
        return new FaultRecord(FaultKind.Pause, plan.Service, null, at, clock.Seconds);
    }

    /// <summary>One link, faulted for the plan's duration through the Toxiproxy API, then healed.</summary>
    private async Task<FaultRecord> FaultLinkAsync(LinkFault plan, string link, CancellationToken ct)
    {
        var proxies = links!; // a run without proxies has its link faults judged not applicable before they get here
        var at = clock.Seconds;
        Func<Task> heal = plan.Kind switch
        {
            FaultKind.Partition => await proxies.CutAsync(link, ct),
            FaultKind.Latency => await proxies.PoisonAsync(link, "latency",
                new { latency = (long)plan.Latency.TotalMilliseconds, jitter = (long)plan.Jitter.TotalMilliseconds }, ct),
            // timeout 0: the connection stays open and silent until the toxic goes (Toxiproxy's documented meaning).
            FaultKind.Hang => await proxies.PoisonAsync(link, "timeout", new { timeout = 0 }, ct),
            _ => await proxies.PoisonAsync(link, "reset_peer", new { timeout = 0 }, ct),
        };
        try
        {
            await Task.Delay(plan.Duration, ct);
        }
        finally
        {
            await heal();
        }
        return new FaultRecord(plan.Kind, link, null, at, clock.Seconds);
    }

    /// <summary>Purges the queue's ready messages; the count purged is the evidence, and none lost is not triggered.</summary>
    private async Task<FaultRecord> LoseMessagesAsync(MessageLoss plan, CancellationToken ct)
    {
        var at = clock.Seconds;
        var queues = Shared.Messaging.QueueNames.For(target.QueuePrefix);
        var lost = await BrokerQueues.PurgeAsync(target.Amqp, plan.Queue == LostQueue.Orders ? queues.Orders : queues.Replies, ct);
        say($"{lost} confirmed message(s) purged from {plan.Target} at {at:0.0}s");
        return lost > 0
            ? new FaultRecord(plan.Kind, plan.Target, null, at, clock.Seconds, $"{lost} confirmed message(s) lost")
            : new FaultRecord(plan.Kind, plan.Target, null, at, clock.Seconds, "not triggered: the queue held no ready message", FaultOutcome.NotTriggered);
    }

    /// <summary>The poison messages this nemesis put in the orders queue, each of which must end up parked.</summary>
    public IReadOnlyList<SentPoison> PoisonSent => [.. _poisonSent];

    private readonly System.Collections.Concurrent.ConcurrentQueue<SentPoison> _poisonSent = new();

    /// <summary>Publishes an order the participant can never apply (no sku, no customer, no quantity), with a confirm.</summary>
    private async Task<FaultRecord> PoisonAsync(PoisonMessage plan, CancellationToken ct)
    {
        var at = clock.Seconds;
        var sent = new SentPoison(Guid.NewGuid().ToString(), $"poison-{_poisonSent.Count + 1}");
        var body = System.Text.Encoding.UTF8.GetBytes($$"""{"orderId":"{{sent.OrderId}}","sku":"","qty":0,"customerId":""}""");
        await BrokerQueues.PublishConfirmedAsync(target.Amqp, Shared.Messaging.QueueNames.For(target.QueuePrefix).Orders, sent.MessageId, body, ct);
        _poisonSent.Enqueue(sent);
        say($"poison message {sent.MessageId} (order {sent.OrderId}) published at {at:0.0}s");
        return new FaultRecord(plan.Kind, plan.Target, null, at, clock.Seconds, $"poison message {sent.MessageId} (order {sent.OrderId}) confirmed by RabbitMQ");
    }

    /// <summary>Kills the server (SIGKILL for RabbitMQ, an immediate stop for PostgreSQL), waits, and restarts it on the same data and port.</summary>
    private async Task<FaultRecord> CrashServerAsync(ServerCrash plan, CancellationToken ct)
    {
        var at = clock.Seconds;
        if (plan.Server == Server.Postgres) await postgres.CrashAsync(ct);
        else await rabbit.CrashAsync(ct);
        await Task.Delay(plan.Downtime, ct);
        if (plan.Server == Server.Postgres) await postgres.RestartAsync(ct);
        else await rabbit.RestartAsync(ct);
        return new FaultRecord(FaultKind.Crash, plan.Target, null, at, clock.Seconds);
    }

    private TimeSpan TriggerPatience()
    {
        var rest = loadDuration - clock.Elapsed + TimeSpan.FromSeconds(2);
        return rest > MinTriggerPatience ? rest : MinTriggerPatience;
    }
}
