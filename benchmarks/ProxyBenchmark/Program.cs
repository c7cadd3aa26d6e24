// Measures what the embedded proxy costs on the path the harness puts it on: Npgsql ↔ PostgreSQL.
//   dotnet run -c Release --project benchmarks/ProxyBenchmark -- [--postgres "<conn string>"] [--seconds 10]
// Without --postgres an embedded PostgreSQL is started (and removed afterwards).
// Four measurements, each after a warm-up and bounded in time: median/p99 latency of SELECT 1 on one connection, and
// round trips per second with 16 connections in parallel, each direct and through the proxy with no toxic.

using System.Diagnostics;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Proxy;
using Npgsql;

string? external = null;
bool socat = false; // also measure socat, a minimal forwarder, to show what any user-space hop costs on this machine
double seconds = 10;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--postgres" when i + 1 < args.Length: external = args[++i]; break;
        case "--socat": socat = true; break;
        case "--seconds" when i + 1 < args.Length: seconds = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        default:
            Console.Error.WriteLine("usage: ProxyBenchmark [--postgres \"<connection string>\"] [--seconds N] [--socat]");
            return 2;
    }
}

// The embedded server removes its data directory when disposed; its log stays under /tmp for inspection.
string scratch = Path.Combine(Path.GetTempPath(), $"dtx-proxybench-{Environment.ProcessId}");
await using var postgres = external is null
    ? await PostgresServer.StartEmbeddedAsync(Path.Combine(scratch, "work"), Path.Combine(scratch, "logs"))
    : await PostgresServer.ConnectExternalAsync(external);
await using var proxyServer = await ToxiproxyServer.StartAsync("127.0.0.1:0");
using var toxiproxy = new ToxiproxyClient(proxyServer.ApiUri);

var direct = new NpgsqlConnectionStringBuilder(postgres.AdminConnectionString)
{
    Pooling = true,
    MaxPoolSize = 32,
    NoResetOnClose = true,
    MaxAutoPrepare = 4, // SELECT 1 becomes a prepared statement: we measure the wire, not the parser
    AutoPrepareMinUsages = 2,
};
var proxy = await toxiproxy.CreateProxyAsync("postgres", "127.0.0.1:0", $"{direct.Host}:{direct.Port}");
var (proxyHost, proxyPort) = (proxy.Listen[..proxy.Listen.LastIndexOf(':')], int.Parse(proxy.Listen[(proxy.Listen.LastIndexOf(':') + 1)..]));
var proxied = new NpgsqlConnectionStringBuilder(direct.ConnectionString) { Host = proxyHost, Port = proxyPort };

Console.WriteLine($"PostgreSQL {(postgres.IsEmbedded ? "embedded" : "external")} at {direct.Host}:{direct.Port}; proxy at {proxy.Listen}; " +
                  $"{Environment.ProcessorCount} cores; {seconds:0.#} s per measurement");

var measure = TimeSpan.FromSeconds(seconds);
var warmUp = TimeSpan.FromSeconds(Math.Min(3, seconds / 3));
// Interleaved (direct, proxy, direct, proxy) so slow drift of the machine hits both sides alike.
var latencyDirect = await Latency(direct.ConnectionString, warmUp, measure);
var latencyProxy = await Latency(proxied.ConnectionString, warmUp, measure);
var throughputDirect = await Throughput(direct.ConnectionString, 16, warmUp, measure);
var throughputProxy = await Throughput(proxied.ConnectionString, 16, warmUp, measure);
(double Median, double P99) latencyReference = default;
double throughputReference = 0;
if (socat)
{
    int port = FreePort.Next();
    using var forwarder = Process.Start("socat", $"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr,nodelay TCP:{direct.Host}:{direct.Port},nodelay");
    try
    {
        await Task.Delay(500); // let it bind
        var viaSocat = new NpgsqlConnectionStringBuilder(direct.ConnectionString) { Host = "127.0.0.1", Port = port };
        latencyReference = await Latency(viaSocat.ConnectionString, warmUp, measure);
        throughputReference = await Throughput(viaSocat.ConnectionString, 16, warmUp, measure);
    }
    finally
    {
        forwarder.Kill(entireProcessTree: true);
    }
}

Console.WriteLine();
Console.WriteLine("                     median µs    p99 µs   round trips/s (16 conns)");
Console.WriteLine($"direct           {latencyDirect.Median,12:0.0} {latencyDirect.P99,9:0.0} {throughputDirect,14:0}");
Console.WriteLine($"through proxy    {latencyProxy.Median,12:0.0} {latencyProxy.P99,9:0.0} {throughputProxy,14:0}");
if (socat)
    Console.WriteLine($"through socat    {latencyReference.Median,12:0.0} {latencyReference.P99,9:0.0} {throughputReference,14:0}   ({100 * throughputReference / throughputDirect:0.0}% of direct)");
Console.WriteLine();
double added = latencyProxy.Median - latencyDirect.Median;
double kept = 100 * throughputProxy / throughputDirect;
Console.WriteLine($"added median latency: {added:0.0} µs (target ≤ 50 µs) {(added <= 50 ? "OK" : "MISSED")}");
Console.WriteLine($"added p99 latency:    {latencyProxy.P99 - latencyDirect.P99:0.0} µs");
Console.WriteLine($"proxy throughput:     {kept:0.0}% of direct (target ≥ 80%) {(kept >= 80 ? "OK" : "MISSED")}");
return 0;

// One connection, one SELECT 1 at a time: the latency a request/response protocol sees.
static async Task<(double Median, double P99)> Latency(string connectionString, TimeSpan warmUp, TimeSpan measure)
{
    await using var connection = new NpgsqlConnection(connectionString);
    await connection.OpenAsync();
    await using var command = new NpgsqlCommand("SELECT 1", connection);
    var warmUntil = Stopwatch.GetTimestamp() + (long)(warmUp.TotalSeconds * Stopwatch.Frequency);
    while (Stopwatch.GetTimestamp() < warmUntil) await command.ExecuteScalarAsync();

    var samples = new List<double>(1 << 20);
    var until = Stopwatch.GetTimestamp() + (long)(measure.TotalSeconds * Stopwatch.Frequency);
    while (samples.Count < 5_000_000)
    {
        long start = Stopwatch.GetTimestamp();
        if (start >= until) break;
        await command.ExecuteScalarAsync();
        samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
    }
    samples.Sort();
    return (samples[samples.Count / 2], samples[(int)(samples.Count * 0.99)]);
}

// Many connections each doing SELECT 1 back to back: what the proxy's per-chunk cost does to total capacity.
static async Task<double> Throughput(string connectionString, int connections, TimeSpan warmUp, TimeSpan measure)
{
    long counted = 0;
    long start = Stopwatch.GetTimestamp();
    long countFrom = start + (long)(warmUp.TotalSeconds * Stopwatch.Frequency);
    long until = countFrom + (long)(measure.TotalSeconds * Stopwatch.Frequency);
    await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        long mine = 0;
        long now;
        while ((now = Stopwatch.GetTimestamp()) < until)
        {
            await command.ExecuteScalarAsync();
            if (now >= countFrom) mine++;
        }
        Interlocked.Add(ref counted, mine);
    })));
    return counted / measure.TotalSeconds;
}
