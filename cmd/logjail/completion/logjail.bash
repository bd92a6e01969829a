# bash completion for logjail, installed as
# /usr/share/bash-completion/completions/logjail. logjail itself lists the
# commands and flags that may follow the words typed so far
# (--generate-bash-completion, urfave/cli's completion protocol).
_logjail() {
	local cur=${COMP_WORDS[COMP_CWORD]} w
	local -a args=("${COMP_WORDS[@]:1:COMP_CWORD-1}")
	COMPREPLY=()
	# After a "--" urfave/cli does not complete but runs the command: never
	# ask logjail then (a TAB must not ban or reload).
	for w in "${args[@]}" "$cur"; do
		if [[ $w == - || $w == -- ]]; then
			return 0
		fi
	done
	if [[ $cur == -* ]]; then
		args+=("$cur")
	fi
	local IFS=$'\n'
	COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" "${args[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
}
complete -o bashdefault -o default -F _logjail logjail
