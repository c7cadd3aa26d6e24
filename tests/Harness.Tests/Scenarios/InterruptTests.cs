using System.Diagnostics;
using Dtx.Harness.Infrastructure;
using Dtx.Tests.Infrastructure;
using Xunit;

namespace Dtx.Tests.Scenarios;

/// <summary>
/// Ctrl+C in the middle of a scenario, with services, PostgreSQL and RabbitMQ all running: the harness must stop
/// them all and exit 130. The run's processes are found by its own TMPDIR, which every one of them inherits.
/// </summary>
public sealed class InterruptTests
{
    [Fact]
    public async Task Ctrl_c_during_the_load_stops_every_service_and_server()
    {
        var tmp = TestDirectory.Create("interrupt");
        var reports = Path.Combine(tmp, "reports");
        var start = new ProcessStartInfo("/usr/bin/env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // SIGINT may be ignored in the test process (a background job), and that survives exec: reset it.
            ArgumentList = { "--default-signal=INT,TERM,HUP,QUIT", $"TMPDIR={tmp}", Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet",
                Path.Combine(AppContext.BaseDirectory, "harness.dll"), "scenario", "crash-after-commit", "--duration", "60s", "--reports", reports },
        };
        using var harness = Process.Start(start)!;
        try
        {
            var loadStarted = new TaskCompletionSource();
            harness.OutputDataReceived += (_, line) =>
            {
                if (line.Data?.Contains("load:") == true) loadStarted.TrySetResult();
            };
            harness.BeginOutputReadLine();
            var stderr = harness.StandardError.ReadToEndAsync();
            await loadStarted.Task.WaitAsync(TimeSpan.FromSeconds(120));
            var running = ProcessTable.Mentioning(tmp);
            Assert.Contains(running, p => p.CommandLine.Contains("service local-table initiator"));
            Assert.Contains(running, p => p.CommandLine.Contains("beam.smp"));

            ProcessTable.Signal(harness.Id, Signals.SIGINT);
            await harness.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

            Assert.Equal(130, harness.ExitCode);
            Assert.Contains("interrupted", await stderr);
            Assert.True(await ProcessTable.WaitUntilAsync(() => ProcessTable.Mentioning(tmp).Count == 0, TimeSpan.FromSeconds(10)),
                "still running: " + string.Join("; ", ProcessTable.Mentioning(tmp)));
        }
        finally
        {
            if (!harness.HasExited) harness.Kill(entireProcessTree: true);
            foreach (var leftover in ProcessTable.Mentioning(tmp)) ProcessTable.Signal(leftover.Pid, Signals.SIGKILL);
            TestDirectory.Delete(tmp);
        }
    }
}
