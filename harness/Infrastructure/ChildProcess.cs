using System.Diagnostics;

namespace Dtx.Harness.Infrastructure;

/// <summary>
/// A child process that runs in its own session and process group, with stdout and stderr appended to a log file.
/// Signals go to the whole group, so the helpers a child forks stop with it (the Erlang VM under the rabbitmq-server
/// script, say); <see cref="Kill"/> also reaches those that moved to a group of their own (PostgreSQL's backends).
/// Every child is registered with <see cref="ProcessReaper"/> until it has exited.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(10);

    // Runs in the child between setsid and the real program: opens the log as the user that starts the child
    // (root can write the run folder, the 'postgres' user cannot), then becomes the program, so Pid stays the
    // program's pid. stdin is /dev/null so that no child ever reads the harness's terminal.
    private const string RedirectAndExec = "log=$1; shift; exec \"$@\" </dev/null >>\"$log\" 2>&1";

    private readonly Process process;
    private readonly string name;
    private readonly TaskCompletionSource<int> exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(Process process, string name, string logPath)
    {
        this.process = process;
        this.name = name;
        Pid = process.Id;
        LogPath = logPath;
    }

    /// <summary>The child's pid, which is also its process group id and session id.</summary>
    public int Pid { get; }

    public string LogPath { get; }

    public bool HasExited => exited.Task.IsCompleted;

    /// <summary>Completes with the exit code, or 128 + signal number when a signal ended the child.</summary>
    public Task<int> Exited => exited.Task;

    /// <param name="runAsUser">
    /// Run the program as this user (through setpriv, so the harness must be root). PostgreSQL needs it because
    /// initdb and postgres refuse to run as root.
    /// </param>
    public static ChildProcess Start(string fileName, IEnumerable<string> args, string logPath,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null,
        string? runAsUser = null)
    {
        // /usr/bin/setsid execs without forking because a child of .NET is never a process group leader, so the
        // pid we get is the program's pid and the new group's id. The new session is what keeps the terminal's
        // Ctrl+C (SIGINT to the foreground group) away from the child: only the harness decides when it stops.
        var startInfo = new ProcessStartInfo(Binaries.Setsid) { UseShellExecute = false };
        startInfo.ArgumentList.Add(Binaries.Shell);
        startInfo.ArgumentList.Add("-c");
        startInfo.ArgumentList.Add(RedirectAndExec);
        startInfo.ArgumentList.Add("sh");
        startInfo.ArgumentList.Add(logPath);
        if (runAsUser is not null)
        {
            startInfo.ArgumentList.Add(Binaries.Setpriv);
            startInfo.ArgumentList.Add($"--reuid={runAsUser}");
            startInfo.ArgumentList.Add($"--regid={runAsUser}");
            startInfo.ArgumentList.Add("--init-groups");
            startInfo.ArgumentList.Add("--");
        }
        startInfo.ArgumentList.Add(fileName);
        foreach (string arg in args) startInfo.ArgumentList.Add(arg);
        if (workingDirectory is not null) startInfo.WorkingDirectory = workingDirectory;
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            startInfo.Environment[name] = value;

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(logPath))!);
        // Exists from now on, so readers need not wait for the shell to create it.
        using (File.Open(logPath, FileMode.Append)) { }
        var process = Process.Start(startInfo)
            ?? throw new InvalidOperationException($"could not start {fileName}");
        var child = new ChildProcess(process, Path.GetFileName(fileName), logPath);
        ProcessReaper.Track(child.Pid);
        _ = child.WatchForExitAsync();
        return child;
    }

    /// <summary>
    /// SIGKILL to the whole group, at once, and to the processes the group's members started in groups of their
    /// own (PostgreSQL backends; see <see cref="ProcessTree"/>).
    /// </summary>
    public void Kill()
    {
        if (HasExited) return;
        ProcessTree.KillGroup(Pid);
        // Not yet in its own group (see Signal): still our direct child.
        Posix.SignalProcess(Pid, Signals.SIGKILL);
    }

    /// <summary>
    /// Sends <paramref name="signal"/> to the whole group (SIGSTOP/SIGCONT pause and resume it). Processes that
    /// left the group do not get it: PostgreSQL backends, for one, have their own groups.
    /// </summary>
    public void Signal(int signal)
    {
        if (HasExited) return;
        // Right after Start the child may not have called setsid() yet, so there is no group to signal; it is
        // still our direct child then, and signalling the pid reaches it.
        if (!Posix.SignalGroup(Pid, signal)) Posix.SignalProcess(Pid, signal);
    }

    /// <summary>SIGTERM to the group; SIGKILL when it has not exited after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (HasExited) return;
        Signal(Signals.SIGTERM);
        try
        {
            await Exited.WaitAsync(grace);
            return;
        }
        catch (TimeoutException)
        {
        }
        Kill();
        try
        {
            await Exited.WaitAsync(KillTimeout);
        }
        catch (TimeoutException)
        {
            // Only a process stuck in uninterruptible I/O survives SIGKILL this long; better a clear error than a hang.
            throw new InvalidOperationException($"process {Pid} did not exit {KillTimeout.TotalSeconds:0} s after SIGKILL");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(5));
        process.Dispose();
    }

    /// <summary>The last <paramref name="lines"/> lines of the log, for error messages.</summary>
    public string LogTail(int lines = 20) => LogFile.Tail(LogPath, lines);

    public override string ToString() => $"{name} (pid {Pid})";

    private async Task WatchForExitAsync()
    {
        await process.WaitForExitAsync();
        int code = process.ExitCode;
        // The group outlives its leader when the leader dies alone (say the rabbitmq-server script killed by someone
        // else while the Erlang VM it started runs on): the rest of the group is ours too and must not be left behind.
        Posix.SignalGroup(Pid, Signals.SIGKILL);
        ProcessReaper.Untrack(Pid);
        exited.TrySetResult(code);
    }
}
