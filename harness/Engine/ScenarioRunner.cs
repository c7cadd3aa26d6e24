using System.Globalization;
using Dtx.Harness.Checking;
using Dtx.Harness.Faults;
using Dtx.Harness.Implementations;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Load;
using Dtx.Harness.Scenarios;
using Dtx.Harness.Services;
using Dtx.Shared.Business;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Mutants;
using Dtx.Shared.Sql;

namespace Dtx.Harness.Engine;

/// <summary>
/// Runs one scenario against each selected implementation in turn, on the same servers but fresh databases and
/// queues, with the same seed — so the same orders — and the same faults. Jepsen's split: the load generator
/// (<see cref="LoadGenerator"/>) makes the history, the nemesis (faults via the <see cref="Supervisor"/>) breaks
/// things on a schedule, and the checker judges the history against the databases once everything has healed.
/// </summary>
public sealed class ScenarioRunner(RunOptions options, Action<string> say, ProgressSink? progressSink = null)
{
    public string? RunDirectory { get; private set; }

    // True while this run's servers outlive it (shared by several scenarios): its databases and queues must then go.
    private bool _serversOutliveRun;

    /// <param name="shared">Servers started once for several scenarios (<c>scenario --all</c>, <c>mutants</c>); without them the run starts its own.</param>
    public async Task<ScenarioResult> RunAsync(Scenario scenario, CancellationToken ct, RunServers? shared = null)
    {
        if (Problem(scenario, options) is { } problem) throw new ScenarioException(problem);
        scenario = ApplyOverrides(scenario, options);
        var startedAt = DateTimeOffset.UtcNow;
        var runId = startedAt.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        RunDirectory = UniqueDirectory(Path.Combine(options.ReportsRoot, $"{runId}-{Slug(scenario.Name)}"));
        var logDir = Directory.CreateDirectory(Path.Combine(RunDirectory, "logs")).FullName;
        var clock = System.Diagnostics.Stopwatch.StartNew();

        say($"scenario {scenario.Name}: {scenario.Description}");
        say($"run folder {RunDirectory}");
        var runs = new List<ImplementationRun>();
        var logOffsets = shared?.LogOffsets();
        RunServers? own = null;
        try
        {
            var servers = shared ?? (own = await RunServers.StartAsync(options, TempFolder(runId), logDir, ct));
            _serversOutliveRun = shared is not null;
            say(servers.Description + (shared is null ? "" : " (shared by this command's scenarios)"));

            var tag = Guid.NewGuid().ToString("N")[..6];
            // The baseline last: its expectations apply only beside a reference that really ran.
            foreach (var implementation in options.Implementations.OrderBy(i => i.IsBaseline))
            {
                var expectationsApply = options.Mutant is null && (!implementation.IsBaseline
                    || runs.Any(r => ImplementationCatalog.Find(r.Implementation) is { IsBaseline: false } && r.Verdict is not (Verdict.NotApplicable or Verdict.Error)));
                try
                {
                    // A server an earlier run crashed and did not restart (its load failed in the downtime) would
                    // fail this run for that one's sake.
                    await servers.EnsureUpAsync(ct);
                    runs.Add(await RunImplementationAsync(scenario, implementation, servers, tag, logDir, expectationsApply, ct));
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    // The servers could not be brought back, or the run's databases not made: this run is an error,
                    // and the others of the scenario still count.
                    runs.Add(await ErrorRunAsync(implementation, e, logDir, []));
                }
            }

            return new ScenarioResult(scenario.Name, scenario.Description, options.Seed, clock.Elapsed.TotalSeconds, startedAt,
                $"postgres={(servers.Postgres.IsEmbedded ? "embedded" : "external")}, rabbitmq={(servers.Rabbit.IsEmbedded ? "embedded" : "external")}, toxiproxy={(options.Toxiproxy ?? "embedded")}",
                new ScenarioSettings(scenario.Load.ConstantRate ?? Math.Round(scenario.Load.NominalRate, 2), scenario.Load.Duration.TotalSeconds, scenario.DrainDeadline.TotalSeconds,
                    scenario.Business.Skus, scenario.Business.StockPerSku, scenario.Business.Customers, scenario.Business.RefuseShare,
                    scenario.Thresholds == Thresholds.None ? null : scenario.Thresholds, scenario.Load.Describe()),
                runs,
                options.Replay(scenario));
        }
        finally
        {
            if (own is not null) await own.DisposeAsync();
            if (shared is not null && logOffsets is not null) shared.CopyLogsSince(logOffsets, logDir);
        }
    }

    /// <summary>A private work folder for embedded servers' data, deleted with them.</summary>
    public static string TempFolder(string runId) => Path.Combine(Path.GetTempPath(), $"dtx-{runId}-{Guid.NewGuid():N}"[..32]);

    /// <summary>
    /// What is wrong with the scenario under this command's <c>--rate</c> and <c>--duration</c> (they can make a sane
    /// file insane), or null: checked for every scenario before any server starts.
    /// </summary>
    public static string? Problem(Scenario scenario, RunOptions options) =>
        options.Rate is not null && scenario.Load.ConstantRate is null
            ? $"{scenario.Name}: --rate sets a constant rate, and this scenario's load has phases ({scenario.Load.Describe()}); leave --rate out, or use --duration to stretch the phases"
            : ScenarioFile.CheckTimes(ApplyOverrides(scenario, options)) is { } problem ? $"{scenario.Name} with these options: {problem}" : null;

    /// <summary>
    /// The scenario's name as part of a folder name: letters, digits, '.', '_' and '-' kept, anything else a '-'. A
    /// name is free text, and one with '/' or '..' would otherwise put the run outside --reports.
    /// </summary>
    public static string Slug(string name)
    {
        var slug = new string([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '-')]).Trim('.', '-');
        return slug.Length == 0 ? "scenario" : slug[..Math.Min(slug.Length, 60)];
    }

    private static Scenario ApplyOverrides(Scenario scenario, RunOptions options) => scenario with
    {
        // The chaos drawn for this seed becomes ordinary faults: reported, judged and replayed like the file's own.
        Faults = scenario.FaultsFor(options.Seed),
        Chaos = null,
        Load = Overridden(scenario.Load, options),
    };

    /// <summary>
    /// The load under <c>--rate</c> and <c>--duration</c>: a constant rate takes both; a load of phases is stretched or
    /// shrunk to <c>--duration</c> (each phase in proportion), and <c>--rate</c> does not apply to it (<see cref="Problem"/>).
    /// </summary>
    private static LoadPlan Overridden(LoadPlan load, RunOptions options)
    {
        if (load.ConstantRate is { } rate)
            return load with { Phases = [new LoadPhase.Inject(options.Rate ?? rate, options.Duration ?? load.Duration)] };
        return options.Duration is { } duration ? load.Lasting(duration) : load;
    }

    /// <param name="expectationsApply">
    /// The scenario's <c>expect</c> applies: always to a reference, to the baseline only beside a reference that really
    /// ran (a comparison), never to a mutant, whose run exists to be seen failing.
    /// </param>
    private async Task<ImplementationRun> RunImplementationAsync(Scenario scenario, IImplementation implementation,
        RunServers servers, string tag, string logDir, bool expectationsApply, CancellationToken ct)
    {
        var (postgres, rabbit, toxiproxy) = (servers.Postgres, servers.Rabbit, servers.Toxiproxy);
        var notApplicable = scenario.Faults
            .Select(plan => (Plan: plan, Why: Nemesis.WhyNotApplicable(plan, implementation, postgres.IsEmbedded, rabbit.IsEmbedded, proxied: true)))
            .ToList();
        if (notApplicable.Count > 0 && notApplicable.All(p => p.Why is not null))
        {
            // A run without any fault would prove nothing about this scenario: say so instead of spending the time.
            say($"[{implementation.Name}] none of the scenario's faults applies ({notApplicable[0].Why}): not run");
            var skipped = notApplicable.SelectMany(p => p.Plan.At.Select(at =>
                new FaultRecord(p.Plan.Kind, p.Plan.Target, p.Plan.Step, at.TotalSeconds, at.TotalSeconds, "not applicable: " + p.Why, FaultOutcome.NotApplicable))).ToList();
            return new ImplementationRun(implementation.Name, Verdict.NotApplicable, ["none of the scenario's faults applies to this implementation"], [], skipped,
                new RunCounts(0, 0, 0, 0, 0, 0, 0, 0), new Throughput(0, 0), Latency.None, Latency.None, TimeToConsistency.None,
                new Drain(true, 0, new InDoubt(0, 0, 0, 0)), []);
        }

        Links? links = null;
        var prefix = $"dtx_{tag}_{implementation.Name.Replace('-', '_')}";
        var ports = implementation.Services.ToDictionary(s => s, _ => FreePort.Next());
        var target = new RunTarget(
            await postgres.CreateDatabaseAsync(prefix + "_inventory", ct),
            await postgres.CreateDatabaseAsync(prefix + "_orders", ct),
            rabbit.AmqpUri,
            $"dtx.{tag}.{implementation.Name}",
            implementation.HasBrokerDatabase ? await postgres.CreateDatabaseAsync(prefix + "_txbroker", ct) : null)
        {
            Urls = ports.ToDictionary(kv => kv.Key, kv => new Uri($"http://127.0.0.1:{kv.Value}")),
        };
        var logs = implementation.Services.Select(s => Path.Combine("logs", $"{implementation.Name}-{s}.log")).ToList();
        say($"[{implementation.Name}] databases {prefix}_*, queues {target.QueuePrefix}.*");
        if (options.Mutant is { } mutant) say($"[{implementation.Name}] MUTANT {mutant}: {MutantCatalog.Find(mutant)?.Safeguard}");
        try
        {
            await SeedAsync(target, scenario.Business, ct);
            links = await Links.CreateAsync(toxiproxy, $"dtx-{tag}-{implementation.Name}", implementation, postgres.AdminConnectionString, rabbit.AmqpUri, target.Urls,
                options.ProxyAll ? null : Links.FaultedBy(scenario.Faults), ct);
            var clock = new RunClock();
            var faultLog = new FaultLog();
            Action<string> sayHere = line => say($"[{implementation.Name}] {line}");
            await using var supervisor = new Supervisor(implementation.Name, clock, logDir, faultLog, sayHere);
            // Started together: no service needs another to start (each dials the others only when work comes), and
            // one after the other cost a second of every run.
            await Task.WhenAll(implementation.Services.Select(async service =>
            {
                var settings = ServiceSettings(scenario, implementation, service, target, ports[service], links);
                if (options.Mutant is not null) settings["mutant"] = options.Mutant;
                await supervisor.StartAsync(service, settings, ports[service], ct);
                say($"[{implementation.Name}] {service} up on 127.0.0.1:{ports[service]}");
            }));

            var history = new HistoryRecorder();
            var orders = new OrderSource(scenario.Business, options.Seed, ScenarioFile.MaxRequests);
            var load = new LoadGenerator(scenario.Load, orders, links.Http($"load-{implementation.EntryService}"), history, clock);
            say($"[{implementation.Name}] load: {LoadLine(scenario.Load)}, {scenario.Faults.Sum(f => f.At.Count)} fault(s)");
            var nemesis = new Nemesis(implementation, target, supervisor, clock, postgres, rabbit, links, faultLog, scenario.Load.Duration, sayHere);
            var costMeter = await CostMeter.StartAsync(supervisor, postgres, [prefix + "_inventory", prefix + "_orders"],
                implementation.HasBrokerDatabase ? [prefix + "_txbroker"] : null, ct);
            clock.Start();
            // Stopped when the drain ends, or by its disposal on any way out of this run.
            await using var sampler = Sampler.Start(implementation, target, supervisor, servers, clock);
            // The nemesis stops with the load when the load fails, instead of faulting services being torn down.
            using var faulting = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var loadTask = load.RunAsync(ct);
            var nemesisTask = nemesis.RunAsync(scenario.Faults, faulting.Token);
            LoadStats stats;
            var progressHere = ProgressFor(implementation);
            await using (LoadProgress.Start(history, sampler, clock, scenario.Load.Duration, progressHere))
            {
                try
                {
                    stats = await loadTask;
                }
                catch
                {
                    await faulting.CancelAsync();
                    await Task.WhenAny(nemesisTask);
                    throw;
                }
            }
            await nemesisTask;
            if (stats.OrdersRanOut)
                sayHere($"the load stopped early: it had sent {ScenarioFile.MaxRequests:N0} orders, the most one run may send");
            // A load of one open phase is the run's own figures; any other is reported phase by phase.
            IReadOnlyList<PhaseFigures>? phases = stats.Phases.Count > 1 || scenario.Load.HasClosedPhase ? [.. stats.Phases.Select(PhaseFigures.Of)] : null;
            foreach (var phase in phases ?? []) sayHere(PhaseLine(phase));

            await nemesis.HealAsync(ct);
            var (drained, drainSeconds) = await DrainAsync(implementation, target, scenario.DrainDeadline, ct, HopelessAfter(implementation, scenario), progressHere);
            say($"[{implementation.Name}] drain {(drained ? "converged" : "did NOT converge")} after {drainSeconds:0.0}s");
            var samples = await sampler.StopAsync();
            var absorbed = await implementation.CountAbsorbedAsync(target, ct);
            await supervisor.StopAllAsync();
            // Read once the services are gone: the broker has then put back every unacked delivery, which a passive
            // declare (ready messages only) could not see while a consumer held it.
            var inDoubt = await implementation.ProbeAsync(target, ct);

            var parked = await BusinessProbe.ParkedMessagesAsync(target, ct);
            var recorded = history.ToHistory();
            var truth = await GroundTruthReader.ReadAsync(target.InventoryDb, target.OrdersDb, inDoubt, drained, ct, recorded.Ops.Select(op => op.OrderId));
            var check = Checker.Check(recorded, truth);
            await File.WriteAllLinesAsync(Path.Combine(logDir, $"{implementation.Name}-history.jsonl"),
                recorded.Ops.Select(op => System.Text.Json.JsonSerializer.Serialize(op, Reporting.ResultJson.OneLine)), ct);
            logs.Add(Path.Combine("logs", $"{implementation.Name}-history.jsonl"));
            var faults = faultLog.All;
            var counts = Count(recorded, truth, absorbed, stats) with { ParkedMessages = parked.Count };
            var cost = await costMeter.StopAsync(counts.OrdersCreated + counts.OrdersRejected, ct);
            if (cost.DatabaseNotMeasured is { } why) say($"[{implementation.Name}] rows written per order not measured: {why}");
            // Every poison message must have been parked: one still circulating (or silently dropped) is a failure.
            var unparked = nemesis.PoisonSent.Where(p => !parked.Any(m => m.MessageId == p.MessageId))
                .Select(p => $"poison message {p.MessageId} (order {p.OrderId}) was never parked")
                // And nothing else may have been parked: a real order parked is an order lost behind a pass.
                .Concat(parked.Where(m => !nemesis.PoisonSent.Any(p => p.MessageId == m.MessageId))
                    .Select(m => $"message {m.MessageId} (order {m.OrderId}) was parked although it was no poison: {m.Reason}"))
                .ToList();
            // Run alone (--impl dual-write), the baseline is judged like any implementation, and fails.
            var expected = expectationsApply ? scenario.ExpectedViolations(implementation.Name) : [];
            var progress = Checker.ProgressOf(recorded, truth, faults, scenario.Load.Duration.TotalSeconds);
            var throughput = new Throughput(Math.Round(stats.Phases.Sum(p => p.Ok) / scenario.Load.Duration.TotalSeconds, 2), Math.Round(stats.Requested / scenario.Load.Duration.TotalSeconds, 2));
            var latency = Latency.Of(stats.OkLatenciesMs);
            var latencyAllRequests = Latency.Of(stats.AllLatenciesMs);
            var judgement = Judgement.Of(check, faults, scenario.Faults.Count > 0, progress.Requested, progress.Created, scenario.Load.MinCreatedShare,
                expected, unparked, baselineMayBreak: expectationsApply ? implementation.BaselineMayBreak : null, outsideFaults: progress.OutsideFaults, afterFaults: progress.AfterFaults,
                thresholdsCrossed: scenario.Thresholds.CrossedBy(latencyAllRequests, check.TimeToConsistency, throughput));
            foreach (var reason in judgement.Reasons) say($"[{implementation.Name}] {Words.Of(judgement.Verdict)}: {reason}");
            return new ImplementationRun(
                implementation.Name,
                judgement.Verdict,
                judgement.Reasons,
                check.Invariants,
                faults,
                counts,
                throughput,
                latency,
                latencyAllRequests,
                check.TimeToConsistency,
                new Drain(drained, drainSeconds, inDoubt),
                logs,
                Expected: expected,
                ParkedMessages: parked,
                Mutant: options.Mutant,
                Timeline: Timeline.Of(recorded, check.TimeToConsistencyMs) with { Samples = samples },
                Traces: check.Valid ? null : await TracesAsync(check, recorded, truth, faults, implementation, target, logDir, ct),
                Cost: cost,
                Phases: phases);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return await ErrorRunAsync(implementation, e, logDir, logs);
        }
        finally
        {
            if (links is not null) await links.DeleteAsync();
            await CleanUpAsync(servers, prefix, target);
        }
    }

    /// <summary>
    /// The traces of a violation's orders, with the lines of each service's log that name them (read line by line: a
    /// message redelivered for a minute makes a large log). A log that cannot be read leaves its lines out and says
    /// so; it must not turn a run that failed with evidence into an error without it.
    /// </summary>
    private async Task<IReadOnlyList<OrderTrace>> TracesAsync(CheckResult check, History history, GroundTruth truth, IReadOnlyList<FaultRecord> faults,
        IImplementation implementation, RunTarget target, string logDir, CancellationToken ct)
    {
        var ids = OrderTrace.Candidates(check);
        IReadOnlyList<TraceStep> steps = [];
        try
        {
            steps = await implementation.TraceStepsAsync(target, ids, ct);
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
        {
            say($"[{implementation.Name}] the traces leave out the protocol's tables: {e.Message}");
        }
        var logs = new Dictionary<string, IReadOnlyList<string>>();
        foreach (var service in implementation.Services)
        {
            var path = Path.Combine(logDir, $"{implementation.Name}-{service}.log");
            try
            {
                var lines = new List<string>();
                if (File.Exists(path))
                    await foreach (var line in File.ReadLinesAsync(path, ct))
                        if (ids.Any(id => OrderTrace.Names(line, id))) lines.Add(line);
                logs[service] = lines;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                say($"[{implementation.Name}] the traces leave out {service}'s log: {e.Message}");
            }
        }
        return OrderTrace.OfViolations(check, history, truth, logs, faults, steps);
    }

    /// <summary>A run that could not complete: its error in the run's log folder, its verdict <c>error</c>.</summary>
    private async Task<ImplementationRun> ErrorRunAsync(IImplementation implementation, Exception e, string logDir, List<string> logs)
    {
        var errorLog = Path.Combine(logDir, $"{implementation.Name}-harness-error.log");
        await File.WriteAllTextAsync(errorLog, e.ToString(), CancellationToken.None);
        logs.Add(Path.Combine("logs", Path.GetFileName(errorLog)));
        say($"[{implementation.Name}] ERROR: {e.Message} (details in {errorLog})");
        return new ImplementationRun(implementation.Name, Verdict.Error, [e.Message], [], [], new RunCounts(0, 0, 0, 0, 0, 0, 0, 0),
            new Throughput(0, 0), Latency.None, Latency.None, TimeToConsistency.None, new Drain(false, 0, new InDoubt(0, 0, 0, 0)), logs, e.Message);
    }

    /// <summary>
    /// The command-line settings of one service process: the common ones, then the implementation's own. With
    /// <paramref name="links"/>, every address the service dials is its proxy's, and so is the check-back address
    /// it gives txbroker, so that each link can be cut on its own.
    /// </summary>
    public static Dictionary<string, string> ServiceSettings(Scenario scenario, IImplementation implementation, string service, RunTarget target, int port, Links? links = null)
    {
        var settings = DirectSettings(scenario, implementation, service, target, port);
        if (links is null) return settings;
        settings["db"] = links.Database(service, settings["db"]);
        settings["amqp"] = links.Amqp(service, settings["amqp"]);
        if (links.Has($"{service}-txbroker")) settings["txbroker"] = links.Http($"{service}-txbroker").ToString();
        if (links.Has($"checkback-{service}")) settings["advertise-url"] = links.Http($"checkback-{service}").ToString();
        return settings;
    }

    private static Dictionary<string, string> DirectSettings(Scenario scenario, IImplementation implementation, string service, RunTarget target, int port) =>
        new(implementation.ExtraSettings(service, target, scenario.Protocol))
        {
            ["http-port"] = port.ToString(CultureInfo.InvariantCulture),
            ["db"] = implementation.DatabaseOf(service, target),
            ["amqp"] = target.Amqp,
            ["queue-prefix"] = target.QueuePrefix,
            ["refuse-share"] = scenario.Business.RefuseShare.ToString(CultureInfo.InvariantCulture),
            ["reply-timeout"] = FailpointSpec.FormatDuration(scenario.Protocol.ReplyTimeout),
            ["lease"] = FailpointSpec.FormatDuration(scenario.Protocol.Lease),
            ["poll-interval"] = FailpointSpec.FormatDuration(scenario.Protocol.PollInterval),
        };

    /// <summary>The business starting point: every sku with the same stock, and that stock remembered for the conservation check.</summary>
    internal static async Task SeedAsync(RunTarget target, BusinessPlan business, CancellationToken ct)
    {
        await Database.ApplySchemaAsync(target.InventoryDb, ct, Inventory.Schema);
        await Database.ApplySchemaAsync(target.OrdersDb, ct, OrderBook.Schema);
        await using var db = Database.Open(target.InventoryDb, "harness-seed");
        await using var seed = db.CreateCommand("""
            INSERT INTO stock (sku, available) SELECT sku, @stock FROM unnest(@skus) AS sku;
            INSERT INTO stock_seed (sku, initial) SELECT sku, @stock FROM unnest(@skus) AS sku;
            """);
        seed.Parameters.AddWithValue("stock", business.StockPerSku);
        seed.Parameters.AddWithValue("skus", Enumerable.Range(0, business.Skus).Select(OrderGenerator.Sku).ToArray());
        await seed.ExecuteNonQueryAsync(ct);
    }

    /// <summary>This implementation's progress, its lines named after it, plain every 5 s unless the command gave a live sink.</summary>
    private ProgressSink ProgressFor(IImplementation implementation)
    {
        var sink = progressSink ?? ProgressSink.Lines(say);
        return sink with { Show = line => sink.Show(line is null ? null : $"[{implementation.Name}] {line}") };
    }

    /// <summary>
    /// Waits until nothing is in doubt any more, or the deadline passes: Jepsen's final phase after healing. One
    /// clean probe is not enough: a delivery held unacked by a consumer is invisible to it, so the probe must stay
    /// clean for a settle period, long enough for such a delivery to be acked or to come back. An implementation that
    /// cannot recover (<see cref="IImplementation.HopelessAfter"/>) is given up on once its figures stop moving.
    /// </summary>
    /// <param name="progress">Where the drain says what is still in doubt, or null for silence.</param>
    public static async Task<(bool Drained, double Seconds)> DrainAsync(IImplementation implementation, RunTarget target, TimeSpan deadline, CancellationToken ct,
        TimeSpan? hopelessAfter = null, ProgressSink? progress = null)
    {
        try
        {
            return await DrainUntilAsync(implementation, target, deadline, hopelessAfter, progress, ct);
        }
        finally
        {
            progress?.Show(null);
        }
    }

    private static async Task<(bool Drained, double Seconds)> DrainUntilAsync(IImplementation implementation, RunTarget target, TimeSpan deadline, TimeSpan? hopelessAfter,
        ProgressSink? progress, CancellationToken ct)
    {
        hopelessAfter ??= implementation.HopelessAfter;
        var settle = TimeSpan.FromSeconds(1);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan? cleanSince = null;
        (InDoubt Figures, TimeSpan Since)? still = null;
        var nextLine = progress?.Every ?? TimeSpan.Zero;
        while (true)
        {
            var inDoubt = await implementation.ProbeAsync(target, ct);
            if (progress is not null && watch.Elapsed >= nextLine)
            {
                progress.Show($"draining {watch.Elapsed.TotalSeconds:0}s of at most {deadline.TotalSeconds:0}s: {inDoubt.Describe()}");
                nextLine = watch.Elapsed + progress.Every; // after a slow probe, not a burst of lines
            }
            if (inDoubt.Any) cleanSince = null;
            else if (cleanSince is null) cleanSince = watch.Elapsed;
            else if (watch.Elapsed - cleanSince >= settle) return (true, cleanSince.Value.TotalSeconds);
            if (watch.Elapsed > deadline) return (false, watch.Elapsed.TotalSeconds);
            if (still is null || still.Value.Figures != inDoubt) still = (inDoubt, watch.Elapsed);
            else if (hopelessAfter is { } hopeless && inDoubt.QueuedMessages == 0 && watch.Elapsed - still.Value.Since >= hopeless)
                return (false, watch.Elapsed.TotalSeconds);
            await Task.Delay(250, ct);
        }
    }

    /// <summary>
    /// How long the figures of an implementation that cannot recover may stand still before the drain gives up. After
    /// a link fault, at least two AMQP heartbeats and then some: a consumer on a link that went silent holds its
    /// unacked deliveries, invisible to the probe, until the broker closes the connection and requeues them.
    /// </summary>
    public static TimeSpan? HopelessAfter(IImplementation implementation, Scenario scenario) =>
        implementation.HopelessAfter is not { } hopeless ? null
        : scenario.Faults.Any(f => f is LinkFault) ? Max(hopeless, 2 * Shared.Messaging.AmqpConnection.Heartbeat + TimeSpan.FromSeconds(5))
        : hopeless;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>The load as the run announces it: "40/s for 20s (800 orders)", or its phases.</summary>
    private static string LoadLine(LoadPlan load) => load.ConstantRate is { } rate
        ? $"{rate:0.#}/s for {load.Duration.TotalSeconds:0.#}s ({load.ScheduledRequests} orders)"
        : $"{load.Describe()} ({load.ScheduledRequests} orders from the open phases{(load.HasClosedPhase ? ", and what the clients of the closed ones send" : "")})";

    /// <summary>A phase's figures as a console line.</summary>
    public static string PhaseLine(PhaseFigures phase) =>
        $"phase {phase.Index + 1} ({phase.Shape}): {phase.Requested} requested, {phase.Ok} ok, {phase.Failed} failed, {phase.Indeterminate} indeterminate, " +
        $"{phase.OkPerSecond:0.#} ok/s, latency p50 {phase.Latency.P50Ms:0} ms, p99 {phase.Latency.P99Ms:0} ms" +
        (phase.ClosedModel ? " (closed model: from each send, kept out of the run's latency)" : "");

    /// <summary>Client outcomes per order as the checker counts them (an invoke with no answer is indeterminate), plus what was absorbed.</summary>
    private static RunCounts Count(History history, GroundTruth truth, IReadOnlyDictionary<string, long> absorbed, LoadStats stats)
    {
        var counts = Checker.Count(history, truth);
        return new RunCounts(
            stats.Requested,
            counts.Acknowledged,
            counts.Failed,
            counts.Indeterminate,
            counts.Created,
            counts.Rejected,
            absorbed.GetValueOrDefault("duplicatesDelivered"),
            absorbed.GetValueOrDefault("republished"),
            absorbed.TryGetValue("checkBacksSent", out var sent) ? sent : null,
            absorbed.TryGetValue("checkBacksAnswered", out var answered) ? answered : null,
            absorbed.TryGetValue("unexpectedCheckBacks", out var unexpected) ? unexpected : null,
            absorbed.TryGetValue("parked", out var parked) ? parked : null,
            absorbed.TryGetValue("fencedByCheckBack", out var fenced) ? fenced : null,
            stats.Retried,
            stats.RetriedAlreadyPlaced,
            RepliesFencedByCheckBack: absorbed.TryGetValue("repliesFencedByCheckBack", out var replies) ? replies : null);
    }

    /// <summary>
    /// Leaves servers that outlive the run as they were: on external servers, and on embedded ones shared by several
    /// scenarios, this run's databases and queues go (unless --keep-databases) — left behind, they would pile up and
    /// slow every later crash recovery. A run's own embedded servers are deleted whole with their work folder.
    /// </summary>
    private async Task CleanUpAsync(RunServers servers, string prefix, RunTarget target)
    {
        if (options.KeepDatabases) return;
        var (postgres, rabbit) = (servers.Postgres, servers.Rabbit);
        if (_serversOutliveRun)
        {
            try
            {
                // A run whose load failed in a server's downtime leaves it down; its leftovers can only go once it is back.
                await servers.EnsureUpAsync(CancellationToken.None);
            }
            catch (Exception e)
            {
                say($"cleanup of {prefix}: {e.Message}");
            }
        }
        if (!postgres.IsEmbedded || _serversOutliveRun)
        {
            try
            {
                await postgres.DropDatabaseAsync(prefix + "_inventory");
                await postgres.DropDatabaseAsync(prefix + "_orders");
                if (target.BrokerDb is not null) await postgres.DropDatabaseAsync(prefix + "_txbroker");
            }
            catch (Exception e)
            {
                say($"cleanup of {prefix} databases: {e.Message}");
            }
        }
        if (!rabbit.IsEmbedded || _serversOutliveRun)
        {
            try
            {
                var queues = Shared.Messaging.QueueNames.For(target.QueuePrefix);
                await BrokerQueues.DeleteAsync(target.Amqp, CancellationToken.None, queues.Orders, queues.Replies);
            }
            catch (Exception e)
            {
                say($"cleanup of {target.QueuePrefix} queues: {e.Message}");
            }
        }
    }

    private static string UniqueDirectory(string path)
    {
        var candidate = path;
        for (var i = 2; Directory.Exists(candidate); i++) candidate = $"{path}-{i}";
        return Directory.CreateDirectory(candidate).FullName;
    }
}
