/**
 * A line-command shell for the consoles (tracker, serve): a readline prompt with tab completion on a
 * terminal, plain lines from a pipe (so it can be scripted), commands run strictly one at a time in
 * order, and end of input that does not stop the program.
 *
 * Owns: reading lines, ordering, the prompt and redrawing it after another printer wrote above it.
 * Does not own: what a command does (`run`) or what completes (`complete`).
 *
 * @example
 *   const shell = runShell({ input: process.stdin, output: process.stdout, terminal: false, prompt: 'serve> ',
 *     run: async (line) => ({ text: `you said ${line}\n`, exit: line === 'exit' }), onExit: stop });
 */
import * as readline from 'node:readline';

export interface ShellOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** A TTY: prompt and tab completion. Otherwise commands are read line by line without a prompt. */
  terminal: boolean;
  prompt: string;
  /** Runs one command line: the text to print, and whether the command ends the program. */
  run: (line: string) => Promise<{ text: string; exit?: boolean }>;
  complete?: (line: string) => [string[], string];
  /** Called once after a command asked to exit. */
  onExit: () => void;
}

export interface Shell {
  /** Resolves when input ends or a command exited (end of input does not stop the program). */
  readonly done: Promise<'eof' | 'exit'>;
  /** Draw the prompt and the text typed so far again (after a message was printed above it). */
  redraw(): void;
  close(): void;
}

export function runShell(o: ShellOptions): Shell {
  let exited = false;
  let resolveDone: (why: 'eof' | 'exit') => void = () => undefined;
  const done = new Promise<'eof' | 'exit'>((r) => (resolveDone = r));
  const rl = readline.createInterface({
    input: o.input,
    output: o.terminal ? o.output : undefined,
    terminal: o.terminal,
    completer: o.terminal && o.complete ? (line: string) => o.complete?.(line) : undefined,
  });
  if (o.terminal) rl.setPrompt(o.prompt);
  /** The prompt is on screen (not while a command runs and prints). */
  let prompting = false;
  const prompt = (): void => {
    prompting = true;
    rl.prompt();
  };
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    prompting = false;
    rl.close();
  };
  // Lines run strictly in order, even when a pipe delivers many at once.
  let chain: Promise<void> = Promise.resolve();
  rl.on('line', (line) => {
    prompting = false;
    chain = chain.then(async () => {
      if (exited) return;
      let text: string;
      try {
        const r = await o.run(line);
        text = r.text;
        exited = r.exit === true;
      } catch (err) {
        text = `error: ${(err as Error).message}\n`;
      }
      if (text) o.output.write(text);
      if (exited) {
        close();
        resolveDone('exit');
        o.onExit();
      } else if (o.terminal) prompt();
    });
  });
  rl.on('close', () => {
    prompting = false;
    void chain.then(() => resolveDone(exited ? 'exit' : 'eof'));
  });
  if (o.terminal) prompt();
  const redraw = (): void => {
    if (o.terminal && prompting && !closed) rl.prompt(true);
  };
  return { done, redraw, close };
}
