using System.Globalization;
using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Implementations;
using Dtx.Harness.Load;
using Dtx.Harness.Scenarios;
using Dtx.Harness.Services;

namespace Dtx.Harness.Bench;

/// <summary>What the command line decided for a bench; every figure has a default that fits the 2-core machine.</summary>
public sealed record BenchOptions(
    IReadOnlyList<IImplementation> Implementations,
    int Seed,
    TimeSpan Step,
    TimeSpan Measure,
    TimeSpan P99Bound,
    double StartRate,
    double MaxRate,
    int Concurrency,
    string ReportsRoot,
    string? Postgres,
    string? Amqp,
    IReadOnlyList<int>? Clients = null)
{
    /// <summary>The closed models measured after the search (<c>--clients</c>): so many clients each, none by default.</summary>
    public IReadOnlyList<int> ClosedModels => Clients ?? [];

    /// <summary>The most closed models one bench measures.</summary>
    public const int MaxClosedModels = 4;

    /// <summary>Bisection steps after the first rate that was not sustained.</summary>
    public const int Refinements = 2;

    /// <summary>How often a rate is offered before it counts as not sustained: a single stall can fail a short step.</summary>
    public const int AttemptsPerRate = 2;

    /// <summary>A step fails when more of its requests than this did not succeed.</summary>
    public const double MaxErrorShare = 0.01;
}

/// <summary>
/// Finds how fast each implementation goes, and what an order costs it, on the same servers as the ceilings:
/// <list type="number">
/// <item>the ceilings: the initiator's local transaction as raw SQL, and a confirmed publish, with nothing of ours;</item>
/// <item>per implementation, an open-model load raised step by step (doubling, then bisecting) until a rate is not
///   sustained twice in a row: more than 1 % of requests failed, an acknowledged order had not reached the participant soon after the
///   load ended, or the p99 end-to-end latency (request to the participant's commit) passed the bound;</item>
/// <item>at the highest sustained rate and at half of it, a longer step, and over the half-rate one the cost per order;</item>
/// <item>with <c>--clients</c>, a closed model of so many clients (keep-constant) for as long: the orders/s it carries,
///   its latencies reported apart, since a closed model slows down with the system it measures.</item>
/// </list>
/// Every link is direct: no fault proxy sits between the parts being measured.
/// </summary>
public sealed class BenchRunner(BenchOptions options, Action<string> say)
{
    public string? RunDirectory { get; private set; }

    /// <summary>Business settings: stock that never runs out, so every order is a real one end to end; the scenario defaults otherwise.</summary>
    private static readonly Scenario Settings = ScenarioFile.Parse("""
        name: bench
        business: { skus: 64, stockPerSku: 1000000000, customers: 1000 }
        """, "bench");

    public async Task<BenchResult> RunAsync(CancellationToken ct)
    {
        var startedAt = DateTimeOffset.UtcNow;
        var runId = startedAt.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        RunDirectory = Directory.CreateDirectory(Path.Combine(options.ReportsRoot, $"{runId}-bench")).FullName;
        var logDir = Directory.CreateDirectory(Path.Combine(RunDirectory, "logs")).FullName;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        say($"bench: run folder {RunDirectory}");
        var runOptions = new RunOptions(options.Implementations, options.Seed, null, null, options.ReportsRoot, options.Postgres, options.Amqp, KeepDatabases: false);
        await using var servers = await RunServers.StartAsync(runOptions, ScenarioRunner.TempFolder(runId), logDir, ct);
        say(servers.Description.Replace(", proxy embedded", "", StringComparison.Ordinal) + "; every link direct");
        await CountStatementsAsync(servers.Postgres, ct);
        var tag = Guid.NewGuid().ToString("N")[..6];
        var ceilings = await Ceilings.MeasureAsync(servers.Postgres, servers.Rabbit, tag, options.Concurrency, options.Measure, say, ct);
        var runs = new List<BenchRun>();
        foreach (var implementation in options.Implementations)
        {
            try
            {
                runs.Add(await BenchImplementationAsync(implementation, servers, ceilings, tag, logDir, ct));
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                await File.WriteAllTextAsync(Path.Combine(logDir, $"{implementation.Name}-harness-error.log"), e.ToString(), CancellationToken.None);
                say($"[{implementation.Name}] ERROR: {e.Message}");
                runs.Add(new BenchRun(implementation.Name, 0, 0, 0, null, [], null, null, null, e.Message));
            }
        }
        return new BenchResult("bench", Machine.Describe(), startedAt, Math.Round(clock.Elapsed.TotalSeconds, 1),
            new BenchSettings(options.Step.TotalSeconds, options.Measure.TotalSeconds, options.P99Bound.TotalMilliseconds, options.StartRate,
                options.MaxRate, options.Concurrency, options.Seed,
                $"postgres={(servers.Postgres.IsEmbedded ? "embedded" : "external")}, rabbitmq={(servers.Rabbit.IsEmbedded ? "embedded" : "external")}"),
            ceilings, runs, Replay());
    }

    /// <summary>The statements per order come from pg_stat_statements; a server without it leaves them uncounted.</summary>
    private async Task CountStatementsAsync(Infrastructure.PostgresServer postgres, CancellationToken ct)
    {
        try
        {
            await using var admin = Dtx.Shared.Sql.Database.Open(postgres.AdminConnectionString, "bench");
            await Dtx.Shared.Sql.Database.ExecuteAsync(admin, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements", ct);
        }
        catch (Npgsql.PostgresException e)
        {
            say($"statements per order will not be counted: {e.MessageText}");
        }
    }

    private string Replay() =>
        $"./run.sh bench --impl {(options.Implementations.Count == 1 ? options.Implementations[0].Name : "all")} --seed {options.Seed}" +
        $" --step {Seconds(options.Step)} --measure {Seconds(options.Measure)} --p99 {options.P99Bound.TotalMilliseconds:0}ms" +
        $" --start-rate {options.StartRate.ToString(CultureInfo.InvariantCulture)} --max-rate {options.MaxRate.ToString(CultureInfo.InvariantCulture)}" +
        $" --concurrency {options.Concurrency}" +
        (options.ClosedModels.Count > 0 ? $" --clients {string.Join(",", options.ClosedModels)}" : "");

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";

    private async Task<BenchRun> BenchImplementationAsync(IImplementation implementation, RunServers servers, CeilingFigures ceilings, string tag,
        string logDir, CancellationToken ct)
    {
        Action<string> sayHere = line => say($"[{implementation.Name}] {line}");
        await using var deployment = await BenchDeployment.StartAsync(implementation, servers, Settings, tag, logDir, sayHere, ct);
        sayHere($"up; searching from {options.StartRate:0.#}/s, {options.Step.TotalSeconds:0.#} s a step, p99 end to end within {options.P99Bound.TotalMilliseconds:0} ms");

        var steps = new List<BenchStep>();
        var number = 0;
        // A cold service (JIT, empty pools, first connections) misses a p99 bound it meets a second later: the first
        // step only warms up, and the search starts after it.
        var warmUp = await StepAsync(deployment, Open(options.StartRate, options.Step), ++number, ct);
        sayHere($"warm-up at {options.StartRate:0.#}/s: ok {warmUp.Rate.OrdersPerSecond:0.#}/s, end to end p99 {warmUp.Rate.EndToEndP99Ms:0} ms (not part of the search)");
        await SettleAsync(deployment, ct);

        // A step is judged on its own figures, then on what it left behind: orders still awaiting the participant's
        // reply long after the load are a backlog the step's percentiles cannot show.
        async Task<(string? Why, StepFigures Figures)> OfferAsync(double rate, TimeSpan duration)
        {
            var figures = await StepAsync(deployment, Open(rate, duration), ++number, ct);
            var why = figures.Unsustained(options.P99Bound);
            var left = await SettleAsync(deployment, ct);
            why ??= left > 0 ? $"{left} orders still awaited the participant's reply {SettleFor.TotalSeconds:0} s after the load" : null;
            return (why, figures);
        }

        // A rate that fails is offered once more before the search takes it as the limit: one stall of half a second
        // (a checkpoint, a collection) put the p99 of an 8 s step at 200/s over the bound while 700/s held in the run
        // before, and ended the search at 175/s.
        async Task<bool> TryAsync(double rate)
        {
            for (var attempt = 1; attempt <= BenchOptions.AttemptsPerRate; attempt++)
            {
                var (why, figures) = await OfferAsync(rate, options.Step);
                steps.Add(new BenchStep(Math.Round(rate, 1), why is null, why ?? "sustained", Math.Round(figures.Rate.OrdersPerSecond, 1),
                    figures.Rate.ProducerP99Ms, figures.Rate.EndToEndP99Ms, attempt));
                var again = why is not null && attempt < BenchOptions.AttemptsPerRate ? "; offering it once more" : "";
                sayHere($"{rate,7:0.#}/s: {(why is null ? "sustained" : "NOT sustained: " + why + again)} (ok {figures.Rate.OrdersPerSecond:0.#}/s, producer p99 {figures.Rate.ProducerP99Ms:0} ms, end to end p99 {figures.Rate.EndToEndP99Ms:0} ms)");
                if (why is null) return true;
            }
            return false;
        }

        double good = 0, rateTried = options.StartRate;
        double? bad = null;
        while (rateTried <= options.MaxRate)
        {
            if (!await TryAsync(rateTried))
            {
                bad = rateTried;
                break;
            }
            good = rateTried;
            rateTried *= 2;
        }
        if (bad is { } high)
        {
            for (var i = 0; i < BenchOptions.Refinements; i++)
            {
                var middle = (good + high) / 2;
                if (middle - good < 1) break;
                if (await TryAsync(middle)) good = middle;
                else high = middle;
            }
        }
        if (good == 0)
            return new BenchRun(implementation.Name, 0, 0, 0, null, steps, null, null, null, $"not even {options.StartRate:0.#} orders/s were sustained");
        var capped = bad is null;
        if (capped) sayHere($"every step up to --max-rate {options.MaxRate:0.#}/s was sustained: the highest rate is the cap, not the limit");

        sayHere($"highest sustained rate {good:0.#}/s; measuring it and half of it for {options.Measure.TotalSeconds:0} s each");
        var (notSustainedAtMax, atMax) = await OfferAsync(good, options.Measure);
        if (notSustainedAtMax is not null)
            sayHere($"{good:0.#}/s was NOT sustained over {options.Measure.TotalSeconds:0} s: {notSustainedAtMax} (a search step is shorter; see the step figures)");
        // pg_stat_database is flushed by each backend at most every 10 s while it is idle: wait for the last flush on
        // both sides of the measured step, so that neither the step before nor the one measured is cut short.
        await Task.Delay(StatisticsFlush, ct);
        var before = await deployment.ReadAsync(ct);
        var window = System.Diagnostics.Stopwatch.StartNew();
        var atHalf = await StepAsync(deployment, Open(good / 2, options.Measure), ++number, ct);
        await SettleAsync(deployment, ct);
        await Task.Delay(StatisticsFlush, ct);
        var after = await deployment.ReadAsync(ct);
        var loaded = window.Elapsed;
        // The services poll (relay, dispatcher, check-back scanner) whether or not orders come: an idle window as long
        // as the measured one says how much of the measured cost is that, and it is taken off, so that an order's cost
        // does not grow as the rate falls.
        sayHere($"measuring {loaded.TotalSeconds:0} s idle, to take the background polling off the cost per order");
        window.Restart();
        await Task.Delay(loaded, ct);
        var idle = await deployment.ReadAsync(ct);
        var cost = Cost(before, after, idle, loaded, window.Elapsed, atHalf.Rate.Orders);
        await File.WriteAllLinesAsync(Path.Combine(logDir, $"{implementation.Name}-top-statements.tsv"), await deployment.TopStatementsAsync(25, ct), ct);
        sayHere($"at {good:0.#}/s: ok {atMax.Rate.OrdersPerSecond:0.#}/s, end to end p99 {atMax.Rate.EndToEndP99Ms:0} ms; at {good / 2:0.#}/s: end to end p99 {atHalf.Rate.EndToEndP99Ms:0} ms");
        sayHere($"per order: {cost.BusinessDbStatements?.ToString("0.#", CultureInfo.InvariantCulture) ?? "?"} business-database statements, " +
                $"{cost.BusinessDbTransactions:0.##} transactions, {cost.Messages:0.##} messages, {cost.HttpRoundTrips:0.##} HTTP round trips");

        var closed = new List<ClosedModelFigures>();
        foreach (var clients in options.ClosedModels)
        {
            await SettleAsync(deployment, ct);
            var figures = (await StepAsync(deployment, new LoadPlan([new LoadPhase.KeepConstant(clients, options.Measure)], StepRequestTimeout), ++number, ct)).Rate;
            closed.Add(new ClosedModelFigures(clients, figures));
            sayHere($"closed model, {clients} clients for {options.Measure.TotalSeconds:0} s: ok {figures.OrdersPerSecond:0.#}/s, producer p50 / p99 {figures.ProducerP50Ms:0} / {figures.ProducerP99Ms:0} ms from each send, end to end p99 {figures.EndToEndP99Ms:0} ms");
        }
        return new BenchRun(implementation.Name, Math.Round(good, 1),
            Math.Round(good / ceilings.RawSqlTransactionsPerSecond, 4), Math.Round(good / ceilings.PublishConfirmedPerSecond, 4),
            implementation.HasBrokerDatabase ? Math.Round(good / ceilings.TxBrokerPrepareCommitPerSecond, 4) : null,
            steps, atMax.Rate, atHalf.Rate, cost, ReachedMaxRate: capped, NotSustainedWhenMeasured: notSustainedAtMax,
            ClosedModel: closed.Count > 0 ? closed : null);
    }

    private static readonly TimeSpan StatisticsFlush = TimeSpan.FromSeconds(11);

    private static readonly TimeSpan SettleFor = TimeSpan.FromSeconds(30);

    /// <summary>Waits (at most <see cref="SettleFor"/>) until nothing is pending, so that one step's backlog does not count against the next; what was still pending.</summary>
    private static async Task<long> SettleAsync(BenchDeployment deployment, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + SettleFor;
        while (true)
        {
            var pending = await deployment.PendingOrdersAsync(ct);
            if (pending == 0 || DateTime.UtcNow >= deadline) return pending;
            await Task.Delay(250, ct);
        }
    }

    /// <summary>What one step showed: the figures, and whether every acknowledged order reached the participant in time.</summary>
    private sealed record StepFigures(RateFigures Rate, int Acknowledged, int Arrived)
    {
        public string? Unsustained(TimeSpan bound) =>
            Acknowledged == 0 ? "no order was acknowledged"
            : Rate.ErrorShare > BenchOptions.MaxErrorShare ? $"{Rate.ErrorShare:0.#%} of requests did not succeed"
            : Arrived < Acknowledged ? $"{Acknowledged - Arrived} acknowledged orders had not reached the participant in time"
            : Rate.EndToEndP99Ms > bound.TotalMilliseconds ? $"p99 end to end {Rate.EndToEndP99Ms:0} ms is above {bound.TotalMilliseconds:0} ms"
            : null;
    }

    private static readonly TimeSpan StepRequestTimeout = TimeSpan.FromSeconds(10);

    private static LoadPlan Open(double rate, TimeSpan duration) => LoadPlan.Constant(rate, duration, StepRequestTimeout);

    /// <summary>The most orders one closed-model step may send: far beyond what 2 cores carry in a measurement.</summary>
    private const int MaxClosedModelOrders = 10_000_000;

    /// <summary>One step of one phase: an open model at a rate, or a closed model of so many clients.</summary>
    private async Task<StepFigures> StepAsync(BenchDeployment deployment, LoadPlan plan, int number, CancellationToken ct)
    {
        var duration = plan.Duration;
        var idPrefix = $"b{number:D3}-";
        var count = plan.HasClosedPhase ? MaxClosedModelOrders : (int)plan.ScheduledRequests;
        var history = new HistoryRecorder();
        var clock = new RunClock();
        var loadStart = DateTimeOffset.UtcNow;
        clock.Start();
        var stats = await new LoadGenerator(plan, new OrderSource(Settings.Business, options.Seed + number, count, idPrefix), deployment.EntryUrl, history, clock).RunAsync(ct);

        var clientOrders = history.ToHistory().ClientOrders();
        var outcomes = clientOrders.ToDictionary(c => c.OrderId, c => c.Outcome, StringComparer.Ordinal);
        // Each order's start: an open model's is when it was due (i / rate, wrk2's way), so a load generator that fell
        // behind on a busy machine shows rather than hides; a closed model's is when its client sent it.
        IReadOnlyList<(string OrderId, DateTimeOffset Start)> starts = plan.ConstantRate is { } rate
            ? [.. OrderGenerator.Generate(count, Settings.Business, options.Seed + number, idPrefix).Select((o, i) => (o.OrderId, loadStart + TimeSpan.FromSeconds(i / rate)))]
            : [.. clientOrders.Select(c => (c.OrderId, c.FirstInvokedAt ?? loadStart))];
        var acknowledged = starts.Where(o => outcomes.GetValueOrDefault(o.OrderId) == OpType.Ok).Select(o => o.OrderId).ToList();
        // Late is as bad as never for a rate that is to be sustained: wait a little past the bound, not until it arrives.
        var patience = DateTime.UtcNow + options.P99Bound * 4 + TimeSpan.FromSeconds(2);
        IReadOnlyDictionary<string, DateTimeOffset> processed;
        while (true)
        {
            processed = await deployment.ProcessedAtAsync(idPrefix, ct);
            if (acknowledged.All(processed.ContainsKey) || DateTime.UtcNow > patience) break;
            await Task.Delay(200, ct);
        }
        // End to end from the order's start (as the producer latency is); a request that did not succeed counts at the
        // timeout, so the p99 cannot look better for failing the slowest.
        var endToEnd = starts.Select(order =>
                outcomes.GetValueOrDefault(order.OrderId) != OpType.Ok ? plan.RequestTimeout.TotalMilliseconds
                : processed.TryGetValue(order.OrderId, out var at) ? Math.Max(0, (at - order.Start).TotalMilliseconds)
                : (double?)null)
            .OfType<double>()
            .ToList();
        // A step is one phase: a closed one's latencies are its own here (the run-level figures leave them out).
        var producer = Latency.Of([.. stats.Phases.SelectMany(p => p.AllLatenciesMs)]);
        var e2e = Latency.Of(endToEnd);
        var figures = new RateFigures(Math.Round(plan.ConstantRate ?? stats.Requested / duration.TotalSeconds, 1), Math.Round(acknowledged.Count / duration.TotalSeconds, 1),
            Math.Round(producer.P50Ms, 1), Math.Round(producer.P99Ms, 1), Math.Round(e2e.P50Ms, 1), Math.Round(e2e.P99Ms, 1),
            stats.Requested == 0 ? 0 : Math.Round(1 - (double)acknowledged.Count / stats.Requested, 4), acknowledged.Count);
        return new StepFigures(figures, acknowledged.Count, acknowledged.Count(processed.ContainsKey));
    }

    /// <summary>
    /// The cost of one order over the measured window [<paramref name="before"/>, <paramref name="after"/>], less the
    /// background the idle window [<paramref name="after"/>, <paramref name="idle"/>] showed, scaled to the measured window's length.
    /// </summary>
    private static CostPerOrder Cost(BenchDeployment.Reading before, BenchDeployment.Reading after, BenchDeployment.Reading idle,
        TimeSpan measured, TimeSpan idleFor, int orders)
    {
        var idleScale = measured / idleFor;
        double Net(double b, double a, double i) => Math.Max(0, (a - b) - (i - a) * idleScale);
        double Per(double b, double a, double i) => orders == 0 ? 0 : Math.Round(Net(b, a, i) / orders, 3);
        double? PerMaybe(long? b, long? a, long? i) => b is { } x && a is { } y && i is { } z ? Per(x, y, z) : null;
        var cpu = after.Processes
            .Where(p => p.Value is not null && before.Processes.GetValueOrDefault(p.Key) is not null && idle.Processes.GetValueOrDefault(p.Key) is not null)
            // Scaled before rounding: per order it is under a millisecond, which Per's three places rounded to 0 or 1 ms.
            .ToDictionary(p => p.Key, p => orders == 0 ? 0
                : Math.Round(Net(before.Processes[p.Key]!.CpuSeconds, p.Value!.CpuSeconds, idle.Processes[p.Key]!.CpuSeconds) / orders * 1000, 3));
        var memory = after.Processes.Where(p => p.Value is not null)
            .ToDictionary(p => p.Key, p => Math.Round(p.Key is "postgres" or "rabbitmq" ? p.Value!.RssMiB : p.Value!.PeakRssMiB, 1));
        return new CostPerOrder(
            PerMaybe(before.Business.Statements, after.Business.Statements, idle.Business.Statements),
            Per(before.Business.Transactions, after.Business.Transactions, idle.Business.Transactions),
            Per(before.Business.RowsWritten, after.Business.RowsWritten, idle.Business.RowsWritten),
            PerMaybe(before.Broker?.Statements, after.Broker?.Statements, idle.Broker?.Statements),
            after.Broker is null ? null : Per(before.Broker!.Transactions, after.Broker.Transactions, idle.Broker!.Transactions),
            after.Broker is null ? null : Per(before.Broker!.RowsWritten, after.Broker.RowsWritten, idle.Broker!.RowsWritten),
            Per(before.Counters.MessagesPublished, after.Counters.MessagesPublished, idle.Counters.MessagesPublished),
            Per(before.Counters.MessagesConsumed, after.Counters.MessagesConsumed, idle.Counters.MessagesConsumed),
            Per(before.Counters.RequestsServed, after.Counters.RequestsServed, idle.Counters.RequestsServed),
            cpu,
            memory)
        {
            IdleBusinessDbTransactionsPerSecond = Math.Round((idle.Business.Transactions - after.Business.Transactions) / idleFor.TotalSeconds, 1),
        };
    }
}

/// <summary>The machine a bench ran on, in one line: figures are only comparable within one.</summary>
public static class Machine
{
    public static string Describe()
    {
        string? model = null;
        try
        {
            model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        }
        catch (IOException)
        {
        }
        var memoryGiB = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024);
        return $"{Environment.ProcessorCount} cores{(model is null ? "" : $" ({model})")}, {memoryGiB:0} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
    }
}
