using System.Collections.Concurrent;
using Dtx.Harness.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Dtx.Tests.HalfMessage;

/// <summary>
/// Stands in for a producer's check-back endpoint, <c>POST /checkback/{txId}</c>: answers what the test set for
/// that txId (unknown by default), can hold an answer back until the test lets it go, and records every call.
/// </summary>
public sealed class FakeProducer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, string> _answers = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _held = new();
    private readonly ConcurrentQueue<string> _calls = new();

    private FakeProducer(WebApplication app, int port)
    {
        _app = app;
        Url = $"http://127.0.0.1:{port}";
    }

    /// <summary>What goes into a prepare's checkBackUrl.</summary>
    public string Url { get; }

    public static async Task<FakeProducer> StartAsync()
    {
        // The free port is released before Kestrel binds it, so another process may take it first: try another.
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort.Next();
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, port));
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var producer = new FakeProducer(app, port);
            app.MapPost("/checkback/{txId}", producer.AnswerAsync);
            try
            {
                await app.StartAsync();
                return producer;
            }
            catch (IOException) when (attempt < 5)
            {
                await app.DisposeAsync();
            }
        }
    }

    /// <summary>From now on, checks of <paramref name="txId"/> are answered <paramref name="state"/>: commit, rollback, unknown, or fail (HTTP 500).</summary>
    public void Answer(string txId, string state) => _answers[txId] = state;

    /// <summary>Checks of <paramref name="txId"/> wait until the returned source is completed, then answer as set.</summary>
    public TaskCompletionSource Hold(string txId) =>
        _held.GetOrAdd(txId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public int CallsFor(string txId) => _calls.Count(id => id == txId);

    private async Task<IResult> AnswerAsync(string txId)
    {
        _calls.Enqueue(txId);
        if (_held.TryGetValue(txId, out var gate)) await gate.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var state = _answers.GetValueOrDefault(txId, "unknown");
        return state == "fail" ? Results.StatusCode(500) : Results.Ok(new { state });
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var gate in _held.Values) gate.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
