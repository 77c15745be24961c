// The README's examples, read by the tests that run them, so the docs and
// the tests cannot drift apart; and a scratch project laid out as a reader's.
//
//   const files = readmeFiles('Use it with Vite')   // { 'vite.config.js': '...', 'main.js': '...' }
//   const dir = await readerProject(t)                // dir/node_modules: the e2e packages
import { execFile } from 'node:child_process'
import { readFileSync, realpathSync, symlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { repoRoot } from './host.mjs'
import { scratchDir } from './util.mjs'

const here = dirname(fileURLToPath(import.meta.url))

/** The text of README section `## title` (up to the next `## `). */
export function readmeSection(title) {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const parts = readme.split(`\n## ${title}\n`)
  if (parts.length !== 2) throw new Error(`README has no single section "## ${title}"`)
  return parts[1].split('\n## ')[0]
}

/** The fenced blocks of a section: [{ lang, text }]. */
export function readmeBlocks(title) {
  return [...readmeSection(title).matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] }))
}

/**
 * The files a section shows: every block whose first line names a file
 * (`// main.js`, `<!-- index.html -->`, `// devtools.js (remark)`), by name.
 */
export function readmeFiles(title) {
  const files = {}
  for (const { text } of readmeBlocks(title)) {
    const m = /^(?:\/\/|<!--)\s*([\w.-]+\.\w+)\b/.exec(text)
    if (m) files[m[1]] = text
  }
  return files
}

/** Runs a program to completion; rejects with its output when it fails. */
export function run(file, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 120000, ...opts }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

/**
 * A scratch directory for a reader's project: its node_modules is a link to
 * the e2e packages (vite, ws, @vitejs/devtools-kit, typescript), so Node,
 * npx and Vite find them from any project made inside it, with no registry.
 */
export function readerProject() {
  const dir = realpathSync(scratchDir('moonhost-e2e-reader-'))
  symlinkSync(join(here, '..', 'node_modules'), join(dir, 'node_modules'))
  return dir
}

/** npm, offline: the packages installed here never come from a registry. */
export function npmOffline(args, cwd) {
  return run('npm', [...args, '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd })
}
