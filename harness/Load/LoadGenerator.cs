using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Dtx.Harness.Checking;
using Dtx.Harness.Scenarios;
using Dtx.Harness.Services;
using Dtx.Shared.Business;

namespace Dtx.Harness.Load;

/// <summary>
/// What the load measured: latencies from each request's scheduled start (an open phase's due time, a closed phase's
/// send) to its last attempt's end, in milliseconds; how many attempts were re-sends of an indeterminate one, and how
/// many of those the service answered "already placed". <see cref="OkLatenciesMs"/> and <see cref="AllLatenciesMs"/>
/// are the open phases' only: a closed model's latencies hide stalls, so they stay in their <see cref="Phases"/>.
/// </summary>
public sealed record LoadStats(int Requested, IReadOnlyList<double> OkLatenciesMs, IReadOnlyList<double> AllLatenciesMs, double Seconds,
    int Retried = 0, int RetriedAlreadyPlaced = 0)
{
    public IReadOnlyList<PhaseStats> Phases { get; init; } = [];

    /// <summary>The load stopped early: it had sent the most orders one run may (<c>ScenarioFile.MaxRequests</c>).</summary>
    public bool OrdersRanOut { get; init; }
}

/// <summary>One phase's requests, by the phase each started in, and their final outcomes and latencies.</summary>
public sealed record PhaseStats(LoadPhase Phase, string Shape, double FromSeconds, double ToSeconds, int Requested, int Ok, int Failed, int Indeterminate,
    IReadOnlyList<double> OkLatenciesMs, IReadOnlyList<double> AllLatenciesMs);

/// <summary>
/// The load generator: the plan's phases in sequence on the run's clock. In an open phase request i is due on the
/// phase's schedule, whether or not earlier ones have answered, and its latency is measured from that due time (wrk2's
/// way): a closed loop would slow down while the system stalls and the stall would vanish from the percentiles
/// (coordinated omission); here it shows. A closed phase is that closed loop, on purpose, to show what the system
/// carries with so many clients: each client sends its next order when the last one ended, until the phase ends.
/// </summary>
public sealed class LoadGenerator(LoadPlan plan, OrderSource orders, Uri initiator, HistoryRecorder history, RunClock clock)
{
    /// <summary>
    /// A closed client's pause after an order that did not succeed: a refused connection or a quick error answers in
    /// microseconds, and without a pause a client would send thousands of orders a second into a crashed initiator.
    /// </summary>
    private static readonly TimeSpan PauseAfterFailure = TimeSpan.FromMilliseconds(100);

    private int _nextProcess;

    public async Task<LoadStats> RunAsync(CancellationToken ct)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(2),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5),
            MaxConnectionsPerServer = 512,
        })
        { BaseAddress = initiator, Timeout = Timeout.InfiniteTimeSpan };

        var tallies = new List<Tally>();
        var started = clock.Elapsed;
        var phaseStart = started;
        foreach (var (phase, previous) in plan.WithPrevious)
        {
            var tally = new Tally(phase, phase.Describe(previous), (phaseStart - started).TotalSeconds);
            tallies.Add(tally);
            var phaseEnd = phaseStart + phase.During;
            if (phase.IsOpen)
            {
                foreach (var offset in phase.Arrivals(previous))
                {
                    if (ct.IsCancellationRequested) break;
                    var due = phaseStart + offset;
                    var wait = due - clock.Elapsed;
                    if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait, ct);
                    if (orders.Next() is not { } order) break;
                    Track(() => PlaceAsync(http, order, due, tally, ct));
                }
            }
            else
            {
                // One task per client the phase ever wants, each sending within its window of the ramp.
                var clients = (int)Math.Max(phase.StartFrom(previous), phase.Target);
                var start = phaseStart;
                foreach (var (from, to) in Enumerable.Range(0, clients).Select(k => phase.ClientWindow(previous, k)).OfType<(TimeSpan From, TimeSpan To)>())
                {
                    Track(async () =>
                    {
                        var wait = start + from - clock.Elapsed;
                        if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
                        while (!ct.IsCancellationRequested && clock.Elapsed < start + to)
                        {
                            if (orders.Next() is not { } order) return;
                            if (await PlaceAsync(http, order, clock.Elapsed, tally, ct) != OpType.Ok)
                                await Task.Delay(PauseAfterFailure, ct);
                        }
                    });
                }
            }
            // The next phase starts on time, whatever this one still has in flight (an open phase's answers, a closed
            // client's last request).
            var rest = phaseEnd - clock.Elapsed;
            if (rest > TimeSpan.Zero) await Task.Delay(rest, ct);
            phaseStart = phaseEnd;
        }
        // What is still in flight ends on its own: each request within its timeout and re-sends, each client at its window's end.
        Finished();
        await _allFinished.Task;
        if (_failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_failure);

        var phases = tallies.Select(t => t.Stats()).ToList();
        var open = phases.Where(p => p.Phase.IsOpen).ToList();
        return new LoadStats(phases.Sum(p => p.Requested), [.. open.SelectMany(p => p.OkLatenciesMs)], [.. open.SelectMany(p => p.AllLatenciesMs)],
            (clock.Elapsed - started).TotalSeconds, _retried, _retriedAlreadyPlaced)
        {
            Phases = phases,
            OrdersRanOut = orders.RanOut,
        };
    }

    private int _retried, _retriedAlreadyPlaced;

    // Requests and clients in flight, counted rather than kept: a list of their tasks held every request of a
    // 10-minute run at 1,000/s (600,000 tasks) until the end. One for the generator itself, until it has started all.
    private int _inFlight = 1;
    private Exception? _failure;
    private readonly TaskCompletionSource _allFinished = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void Track(Func<Task> work)
    {
        Interlocked.Increment(ref _inFlight);
        _ = Task.Run(async () =>
        {
            try
            {
                await work();
            }
            catch (OperationCanceledException)
            {
                // The run was cancelled: the generator's own wait says so.
            }
            catch (Exception e)
            {
                // A fault of the harness's own, not an answer: the load ends in an error, as an awaited task's would.
                Interlocked.CompareExchange(ref _failure, e, null);
            }
            finally
            {
                Finished();
            }
        }, CancellationToken.None);
    }

    private void Finished()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0) _allFinished.TrySetResult();
    }

    /// <summary>One order, sent until the client knows what became of it or runs out of re-sends; its latency from <paramref name="due"/>, and how it ended.</summary>
    private async Task<OpType> PlaceAsync(HttpClient http, PlaceOrder order, TimeSpan due, Tally tally, CancellationToken ct)
    {
        var (type, detail) = await SendAsync(http, order, ct);
        // The client goes on while it does not know what became of the order: after an indeterminate answer,
        // and after a re-send that was refused (the initiator still restarting), since a refusal says nothing
        // about the first attempt. Stopping at the refusal left a committed order's re-send untried.
        var unknown = type == OpType.Info;
        for (var attempt = 1; attempt <= plan.Retries && unknown && !ct.IsCancellationRequested; attempt++)
        {
            try
            {
                await Task.Delay(plan.RetryBackoff, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            // A new logical client for each re-send (Jepsen's rule: a client whose request ended indeterminate is
            // gone), asking for the same order id.
            (type, detail) = await SendAsync(http, order, ct);
            Interlocked.Increment(ref _retried);
            if (detail == AlreadyPlaced) Interlocked.Increment(ref _retriedAlreadyPlaced);
            unknown = type == OpType.Info || (type == OpType.Fail && detail == ConnectionRefused);
        }
        tally.Add(type, (clock.Elapsed - due).TotalMilliseconds);
        return type;
    }

    /// <summary>A phase's requests as they end; <paramref name="fromSeconds"/> is where the phase starts in the load.</summary>
    private sealed class Tally(LoadPhase phase, string shape, double fromSeconds)
    {
        private readonly List<double> _ok = [], _all = [];
        private int _failed, _indeterminate;

        public void Add(OpType type, double latencyMs)
        {
            lock (_all)
            {
                _all.Add(latencyMs);
                if (type == OpType.Ok) _ok.Add(latencyMs);
                else if (type == OpType.Fail) _failed++;
                else _indeterminate++;
            }
        }

        public PhaseStats Stats()
        {
            lock (_all)
                return new PhaseStats(phase, shape, fromSeconds, fromSeconds + phase.During.TotalSeconds, _all.Count, _ok.Count, _failed, _indeterminate, [.. _ok], [.. _all]);
        }
    }

    private async Task<(OpType Type, string? Detail)> SendAsync(HttpClient http, PlaceOrder order, CancellationToken ct)
    {
        var process = Interlocked.Increment(ref _nextProcess) - 1;
        history.Record(process, OpType.Invoke, order, clock.Seconds);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(plan.RequestTimeout);
        var (type, detail) = await ClassifyAsync(() => http.PostAsJsonAsync("/orders", order, Json.Options, timeout.Token));
        history.Record(process, type, order, clock.Seconds, detail);
        return (type, detail);
    }

    private const string ConnectionRefused = "connection refused";

    /// <summary>The detail of a 200 answer: the order id was placed before (a re-send met its first attempt's work).</summary>
    private const string AlreadyPlaced = "already placed";

    /// <summary>
    /// Jepsen's three outcomes. Fail only when the order certainly did not happen: a refused connection (nothing
    /// was sent) or a 4xx the initiator gives before committing anything. A timeout, a reset after sending, or a
    /// 5xx may hide a commit, so it is Info: indeterminate, and the checker accepts all or nothing for it.
    /// </summary>
    public static async Task<(OpType Type, string? Detail)> ClassifyAsync(Func<Task<HttpResponseMessage>> send)
    {
        try
        {
            using var response = await send();
            var code = (int)response.StatusCode;
            return code switch
            {
                200 => (OpType.Ok, AlreadyPlaced), // 201 is a new order; 200 says the id had been placed already
                >= 200 and < 300 => (OpType.Ok, null),
                >= 400 and < 500 => (OpType.Fail, $"{code} {await BodyAsync(response)}"),
                _ => (OpType.Info, $"{code} {await BodyAsync(response)}"),
            };
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
        {
            return (OpType.Fail, ConnectionRefused);
        }
        catch (HttpRequestException e)
        {
            return (OpType.Info, e.HttpRequestError + ": " + e.Message);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            // Not every socket error comes wrapped: a connection the crashing initiator accepted and dropped at once
            // surfaced as a bare SocketException ("Transport endpoint is not connected") and ended the whole run in
            // an error. Whatever it was, this request's fate is unknown to the client.
            return (OpType.Info, e.GetType().Name + ": " + e.Message);
        }
        catch (OperationCanceledException)
        {
            return (OpType.Info, "timeout");
        }
    }

    private static async Task<string> BodyAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        return body.Length > 200 ? body[..200] : body;
    }
}
