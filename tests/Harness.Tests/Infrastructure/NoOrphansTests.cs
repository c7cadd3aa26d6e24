using System.Diagnostics;
using Dtx.Harness.Infrastructure;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Dtx.Tests.Infrastructure;

/// <summary>
/// Runs a real harness process that starts embedded PostgreSQL and RabbitMQ, ends it one way or another, and checks
/// that no process of that run is left: none whose command line or environment mentions the run's folder (every
/// server process carries it in DTX_WORK_DIR, including epmd and Erlang's helpers).
/// </summary>
public sealed class NoOrphansTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData("wait", Signals.SIGINT)]   // Ctrl+C, cancelled by the harness, which stops the servers itself
    [InlineData("wait", Signals.SIGTERM)]
    [InlineData("sleep", Signals.SIGINT)]  // nobody cancels: the reaper's signal handler kills the servers
    [InlineData("sleep", Signals.SIGTERM)] // nobody cancels: ProcessExit
    [InlineData("sleep", Signals.SIGKILL)] // no code of the harness runs: the watchdog kills the servers
    [InlineData("throw", 0)]               // unhandled exception
    public async Task Nothing_of_a_run_survives_the_harness(string mode, int signal)
    {
        string runDir = TestDirectory.Create("orphans");
        using var harness = StartHarness(runDir, mode);
        int? sharedMemoryId = null;
        try
        {
            string postgres = await WaitForReadyAsync(harness);
            sharedMemoryId = ReadSharedMemoryId(runDir);
            // A backend busy with a query does not notice its postmaster die, and it lives in a session of its own,
            // outside the postmaster's process group: the hardest PostgreSQL process to leave no trace of.
            var busyQuery = RunEndlessQueryAsync(postgres);
            Assert.True(await ProcessTable.WaitUntilAsync(
                () => ProcessTable.Mentioning(runDir).Any(p => p.CommandLine.EndsWith(" SELECT")), StartTimeout),
                "the endless query should be running");

            if (signal != 0) ProcessTable.Signal(harness.Id, signal);
            else await harness.StandardInput.WriteLineAsync("throw now");
            using var exitTimeout = new CancellationTokenSource(ExitTimeout);
            await harness.WaitForExitAsync(exitTimeout.Token);
            output.WriteLine($"harness exited with {harness.ExitCode}");
            if (mode == "wait") Assert.Equal(0, harness.ExitCode);

            bool clean = await ProcessTable.WaitUntilAsync(() => ProcessTable.Mentioning(runDir).Count == 0, CleanupTimeout);
            Assert.True(clean, "still running: " + string.Join("; ", ProcessTable.Mentioning(runDir)));
            await Assert.ThrowsAnyAsync<Exception>(() => busyQuery);
        }
        finally
        {
            // Whatever the outcome, leave nothing behind for the next test (these are processes this test started).
            if (!harness.HasExited) harness.Kill();
            foreach (var leftover in ProcessTable.Mentioning(runDir)) ProcessTable.Signal(leftover.Pid, Signals.SIGKILL);
            // A postmaster that dies by SIGKILL leaves its small System V segment behind (a fresh data directory
            // never reclaims it); without this every run of these tests would use up a few more of the 4096 the
            // kernel allows.
            if (sharedMemoryId is int id) ProcessTable.RemoveSharedMemory(id);
            TestDirectory.Delete(runDir);
        }
    }

    private Process StartHarness(string runDir, string mode)
    {
        string harnessDll = Path.Combine(AppContext.BaseDirectory, "harness.dll");
        // `dotnet test` may run us with SIGINT ignored (as a background job is), and an ignored signal stays ignored
        // across fork and exec; reset it so the harness meets the signals the way it does under a terminal.
        var startInfo = new ProcessStartInfo("/usr/bin/env")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            ArgumentList =
            {
                "--default-signal=INT,TERM,HUP,QUIT",
                Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet",
                harnessDll, "infra-up-for-tests", runDir, mode,
            },
        };
        var harness = Process.Start(startInfo)!;
        harness.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) output.WriteLine($"harness stderr: {e.Data}");
        };
        harness.BeginErrorReadLine();
        return harness;
    }

    /// <returns>The PostgreSQL connection string the harness printed after READY.</returns>
    private async Task<string> WaitForReadyAsync(Process harness)
    {
        using var timeout = new CancellationTokenSource(StartTimeout);
        while (await harness.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            output.WriteLine($"harness: {line}");
            if (line.StartsWith("READY ", StringComparison.Ordinal)) return line.Split(' ')[1];
        }
        throw new Xunit.Sdk.XunitException($"the harness ended (exit code {(harness.HasExited ? harness.ExitCode : -1)}) without printing READY; " +
            "does Program dispatch `harness infra-up-for-tests WORKDIR MODE` to InfraUp.InfraUpForTestsAsync?");
    }

    /// <summary>The id of the postmaster's System V segment, from line 7 ("key id") of its postmaster.pid.</summary>
    private static int? ReadSharedMemoryId(string runDir)
    {
        string[] lines = File.ReadAllLines(Path.Combine(runDir, "work", "pg", "postmaster.pid"));
        string[] keyAndId = lines.Length > 6 ? lines[6].Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];
        return keyAndId.Length == 2 && int.TryParse(keyAndId[1], out int id) ? id : null;
    }

    private static async Task RunEndlessQueryAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(
            new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM generate_series(1, 1000000000000)", connection)
        {
            CommandTimeout = 0,
        };
        await command.ExecuteScalarAsync();
    }
}
