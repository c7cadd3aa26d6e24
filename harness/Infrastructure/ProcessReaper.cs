using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Dtx.Harness.Infrastructure;

/// <summary>
/// Makes sure no child process group outlives the harness, however the harness ends.
/// </summary>
/// <remarks>
/// Three layers, each covering what the one before cannot:
/// <list type="number">
/// <item>Normal exit and SIGTERM run <see cref="AppDomain.ProcessExit"/>; an unhandled exception runs
/// <see cref="AppDomain.UnhandledException"/>. Both kill every tracked group.</item>
/// <item>SIGINT, SIGQUIT and SIGHUP end a .NET process without ProcessExit. A signal handler kills every group
/// when, and only when, the signal is about to end the process (see <see cref="RegisterHooks"/>).</item>
/// <item>SIGKILL runs no code at all. A watchdog process (<see cref="ReaperWatchdog"/>) holds the read end of a pipe
/// whose write end only the harness holds; when the harness dies the kernel closes it, the watchdog reads EOF and
/// kills the groups still tracked.</item>
/// </list>
/// Only groups the harness started are ever killed, by their id.
/// </remarks>
public static class ProcessReaper
{
    private static readonly ConcurrentDictionary<int, byte> Groups = new();
    private static readonly Lock WatchdogGate = new();
    private static ReaperWatchdog? watchdog;

    // Kept in a static field because a collected registration unregisters itself.
    private static PosixSignalRegistration[] signalRegistrations = [];

    public static void Track(int pgid)
    {
        Groups[pgid] = 0;
        Tell($"+{pgid}");
    }

    public static void Untrack(int pgid)
    {
        if (Groups.TryRemove(pgid, out _)) Tell($"-{pgid}");
    }

    /// <summary>
    /// SIGKILL to every tracked group and the processes its members moved out of it (see <see cref="ProcessTree"/>).
    /// Safe to call from any thread, any number of times.
    /// </summary>
    public static void KillAll()
    {
        foreach (int pgid in Groups.Keys)
        {
            try
            {
                ProcessTree.KillGroup(pgid);
            }
            catch (InvalidOperationException)
            {
                // Keep going: one group we may not signal must not save the others.
            }
            Untrack(pgid);
        }
    }

    /// <summary>
    /// Installed as a module initializer so that it runs before any other code of the harness, Program included.
    /// .NET calls signal handlers newest first and stops at the first one that sets Cancel; registering first
    /// makes ours the last in line. So when the Program cancels SIGINT/SIGTERM to shut down gracefully, this
    /// handler does not run and the Program stops the servers itself; when nobody cancels, the signal is about to
    /// end the process and this handler kills the children first.
    /// </summary>
    [ModuleInitializer]
    internal static void RegisterHooks()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        AppDomain.CurrentDomain.UnhandledException += (_, _) => KillAll();
        signalRegistrations =
        [
            .. new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGQUIT, PosixSignal.SIGHUP }
                .Select(signal => PosixSignalRegistration.Create(signal, context =>
                {
                    if (!context.Cancel) KillAll();
                })),
        ];
    }

    private static void Tell(string line)
    {
        lock (WatchdogGate)
        {
            watchdog ??= ReaperWatchdog.Start();
            if (watchdog.TrySend(line)) return;

            // The watchdog is gone (someone killed it): without one a SIGKILL of the harness would leave every
            // child running, so start a new one and tell it every group still tracked.
            watchdog.Dispose();
            watchdog = ReaperWatchdog.Start();
            foreach (int pgid in Groups.Keys) watchdog.TrySend($"+{pgid}");
        }
    }
}
