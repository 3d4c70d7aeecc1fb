# bash completion for modelfs (installed by `make install` as
# $(PREFIX)/share/bash-completion/completions/modelfs).
#
# Completes commands, each command's options and the mount's -o keys.  The words
# come from `modelfs --list-options`, the program's own option table, so the
# completion never offers an option the program does not take.

_modelfs_table() {
  "$1" --list-options 2>/dev/null
}

_modelfs() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local table kind a b rest cmd=mount cmds="" opts="" okeys="" choices=""
  table=$(_modelfs_table "${COMP_WORDS[0]}") || return 0
  while IFS=$'\t' read -r kind a b rest; do
    [[ $kind == command ]] && cmds+=" $a"
  done <<<"$table"
  if ((COMP_CWORD > 1)) && [[ " $cmds " == *" ${COMP_WORDS[1]} "* ]]; then
    cmd=${COMP_WORDS[1]}
  fi
  while IFS=$'\t' read -r kind a b rest; do
    [[ $kind == option && ($a == "$cmd" || $a == "*") ]] || continue
    if [[ $b == "-o "* ]]; then
      b=${b#-o }
      [[ $b == *=* ]] && b=${b%%=*}=
      okeys+=" $b"
      opts+=" -o"
    else
      opts+=" ${b%% *}"
      # An argument given as alternatives ("--format text|json|sarif"): offer them.
      [[ ${b%% *} == "$prev" && $b == *" "*"|"* ]] && choices=${b#* }
    fi
  done <<<"$table"
  if [[ -n $choices ]]; then
    COMPREPLY=($(compgen -W "${choices//|/ }" -- "$cur"))
    return 0
  fi
  if [[ $prev == -o ]]; then
    local done_part="" part=$cur
    if [[ $cur == *,* ]]; then
      done_part=${cur%,*},
      part=${cur##*,}
    fi
    COMPREPLY=($(compgen -P "$done_part" -W "$okeys" -- "$part"))
    [[ ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
    return 0
  fi
  case $prev in
    --trust) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    --sklearn|--scikit-learn|--numpy|--python|--skops) return 0 ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(printf '%s\n' $opts | sort -u)" -- "$cur"))
  elif ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "$cmds" -- "$cur") $(compgen -f -- "$cur"))   # or SOURCE
  elif [[ $cmd == help ]]; then
    COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
  return 0
}

complete -F _modelfs modelfs
