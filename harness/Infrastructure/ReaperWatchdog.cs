using System.Diagnostics;

namespace Dtx.Harness.Infrastructure;

/// <summary>
/// The last line of <see cref="ProcessReaper"/>: a small bash process that outlives a SIGKILLed harness just long
/// enough to SIGKILL the process groups the harness had not yet seen exit (with their escapees, see
/// <see cref="ProcessTree"/>). Pure bash and /proc, so that it needs nothing that might not be installed.
/// </summary>
/// <remarks>
/// It reads "+pgid" (now tracked) and "-pgid" (exited) lines from stdin. The write end of that pipe exists only in
/// the harness (.NET creates it close-on-exec, so no other child inherits it), so EOF means the harness is gone.
/// It runs in its own session and ignores INT/TERM/HUP/QUIT so that Ctrl+C or a closing terminal, which end the
/// harness, cannot end the watchdog first.
/// </remarks>
internal sealed class ReaperWatchdog : IDisposable
{
    private const string Script = """
        trap '' INT TERM HUP QUIT
        exec >/dev/null 2>&1
        declare -A groups=()
        while IFS= read -r line; do
          id=${line:1}
          [[ $id =~ ^[0-9]+$ ]] || continue
          case ${line:0:1} in
            +) groups[$id]=1 ;;
            -) unset "groups[$id]" ;;
          esac
        done
        # Kills group $1 and its members' children that live in other groups, like ProcessTree.KillGroup.
        kill_tree() {
          local group=$1 file stat pid
          local -A parent_of=() group_of=()
          kill -STOP -- "-$group" || return
          for file in /proc/[0-9]*/stat; do
            read -r stat < "$file" || continue
            pid=${file#/proc/}; pid=${pid%/stat}
            stat=${stat##*) }
            set -- $stat
            parent_of[$pid]=$2; group_of[$pid]=$3
          done
          for pid in "${!parent_of[@]}"; do
            if [[ ${group_of[${parent_of[$pid]}]} == "$group" && ${group_of[$pid]} != "$group" ]]; then
              kill -KILL "$pid"
            fi
          done
          kill -KILL -- "-$group"
        }
        for id in "${!groups[@]}"; do kill_tree "$id"; done
        """;

    private readonly Process process;

    private ReaperWatchdog(Process process) => this.process = process;

    public static ReaperWatchdog Start()
    {
        var startInfo = new ProcessStartInfo(Binaries.Setsid)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            ArgumentList = { Binaries.Bash, "-c", Script, "dtx-reaper-watchdog" },
        };
        var process = Process.Start(startInfo) ?? throw new InvalidOperationException("could not start the reaper watchdog");
        process.StandardInput.AutoFlush = true;
        return new ReaperWatchdog(process);
    }

    /// <summary>False when the watchdog can no longer be told anything (it has died).</summary>
    public bool TrySend(string line)
    {
        try
        {
            process.StandardInput.WriteLine(line);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Closes the pipe, which makes a live watchdog kill what it tracks and exit.</summary>
    public void Dispose() => process.Dispose();
}
